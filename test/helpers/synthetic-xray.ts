/** The generator lives in src/ (the example-dataset command uses it at run time); tests import it from here. */
export * from '../../src/cli/synthetic-xray.ts';
