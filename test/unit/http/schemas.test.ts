import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { mapError } from '../../../src/http/plugins/error-handler.ts';
import { ALIAS_PATTERN, DATASET_ID_PATTERN, MODEL_NAME_PATTERN } from '../../../src/domain/ids.ts';
import { typeboxValidator } from '../../../src/http/schemas/validator.ts';
import { isDatasetId, newDatasetId } from '../../../src/storage/dataset-ids.ts';
import { isAliasName, isModelName } from '../../../src/storage/model-validation.ts';

describe('id patterns agree with the storage layer', () => {
  const samples = [
    'chestxraynet', 'a', 'a-b', '0abc', 'production', 'canary-2', '', '-a', 'A', 'a_b', 'a.b', '..', '../x', 'a/b',
    'x'.repeat(32), 'x'.repeat(33), 'x'.repeat(63), 'x'.repeat(64), 'ds_aaaaaaaaaaaaaaaa', 'ds_aaaaaaaaaaaaaaa1', ' a', 'a ', 'é',
  ];
  it.each(samples)('%j', (s) => {
    expect(new RegExp(MODEL_NAME_PATTERN).test(s)).toBe(isModelName(s));
    expect(new RegExp(ALIAS_PATTERN).test(s)).toBe(isAliasName(s));
    expect(new RegExp(DATASET_ID_PATTERN).test(s)).toBe(isDatasetId(s));
  });
  it('accepts generated dataset ids', () => {
    for (let i = 0; i < 50; i++) expect(new RegExp(DATASET_ID_PATTERN).test(newDatasetId())).toBe(true);
  });
});

describe('typeboxValidator', () => {
  const params = typeboxValidator({
    schema: Type.Object({ version: Type.Integer({ minimum: 1 }), name: Type.String({ pattern: '^[a-z]+$' }) }),
    httpPart: 'params',
    method: 'GET',
    url: '/x',
  }) as (v: unknown) => { value?: unknown; error?: { message: string; instancePath: string }[] };
  const body = typeboxValidator({
    schema: Type.Object({ version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
    httpPart: 'body',
    method: 'PUT',
    url: '/x',
  }) as (v: unknown) => { value?: unknown; error?: { message: string; instancePath: string }[] };

  it('converts plain decimal path values', () => {
    expect(params({ version: '3', name: 'abc' })).toEqual({ value: { version: 3, name: 'abc' } });
  });

  it.each(['0', '-1', '1.5', '1e3', '1e400', '1e309', '0x10', '0b1', '0o7', ' 5', '5 ', '05', '+5', '-0', '5.0', 'abc', '', '99999999999999999999', 'Infinity', 'NaN'])(
    'refuses version %j in a path',
    (v) => {
      const r = params({ version: v, name: 'abc' });
      expect(r.error?.[0]?.instancePath).toBe('/version');
    },
  );

  it('converts numbers by the same rule: canonical decimals only', () => {
    const query = typeboxValidator({ schema: Type.Object({ x: Type.Number() }), httpPart: 'querystring', method: 'GET', url: '/x' }) as (
      v: unknown,
    ) => { value?: unknown; error?: unknown[] };
    expect(query({ x: '0.25' })).toEqual({ value: { x: 0.25 } });
    expect(query({ x: '-3' })).toEqual({ value: { x: -3 } });
    for (const bad of ['1e309', '.5', '5.', '0x10', '1e-3', 'Infinity', '-0', '00.5', ['1', '2']]) expect(query({ x: bad }).error, String(bad)).toBeDefined();
  });

  it('names the problem without quoting a huge value whole', () => {
    const r = params({ version: '1', name: 'X'.repeat(100_000) });
    const message = (r.error?.[0] as { message: string }).message;
    expect(message).toMatch(/^must match/);
    expect(message.length).toBeLessThan(200);
  });

  it('checks JSON bodies as sent (no coercion)', () => {
    expect(body({ version: 2 })).toEqual({ value: { version: 2 } });
    for (const bad of [{ version: '2' }, { version: true }, { version: [2] }, { version: 2, extra: 1 }, {}, null, [], 'x']) {
      expect(body(bad).error, JSON.stringify(bad)).toBeDefined();
    }
  });
});

describe('mapError', () => {
  it('AppError -> its catalogue status and body, details kept', () => {
    expect(mapError(new AppError('VERSION_IN_USE', 'in use', { aliases: ['production'] }))).toEqual({
      status: 409,
      body: { error: { code: 'VERSION_IN_USE', message: 'in use', details: { aliases: ['production'] } } },
      unexpected: false,
    });
  });

  it('Fastify and multipart client errors -> 4xx codes', () => {
    const fst = (code: string, statusCode: number, message = 'x') => Object.assign(new Error(message), { code, statusCode });
    expect(mapError(fst('FST_ERR_CTP_BODY_TOO_LARGE', 413)).body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(mapError(fst('FST_REQ_FILE_TOO_LARGE', 413)).status).toBe(413);
    expect(mapError(fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415)).body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(mapError(fst('FST_ERR_CTP_INVALID_JSON_BODY', 400)).body.error.code).toBe('BAD_REQUEST');
    expect(mapError(fst('FST_INVALID_MULTIPART_CONTENT_TYPE', 406)).status).toBe(415);
    expect(mapError(fst('FST_SOMETHING_NEW', 418)).status).toBe(400);
    expect(mapError(Object.assign(new Error('body/x must be integer'), { validation: [{}], statusCode: 400 }))).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: 'body/x must be integer' } },
    });
    expect(mapError(new Error('Unexpected end of form')).body.error.code).toBe('BAD_REQUEST');
    expect(mapError(new Error('Malformed part header')).status).toBe(400);
  });

  it('anything else -> 500 INTERNAL with a generic message', () => {
    for (const err of [new Error('secret detail'), 'a string', null, { statusCode: 502 }, new AppError('INTERNAL', 'x')]) {
      const m = mapError(err);
      expect(m.status).toBe(500);
      expect(m.unexpected).toBe(true);
      expect(m.body.error.code).toBe('INTERNAL');
    }
    expect(mapError(new Error('secret detail')).body.error.message).toBe('Internal server error');
  });
});
