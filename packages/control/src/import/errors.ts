/** The file given to an import is not what its product writes (the message says what is wrong). */
export class ImportInputError extends Error {}
