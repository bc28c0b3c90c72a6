/** @module Types of the values `global-setup.ts` hands to the tests through `inject()`. */
declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the fake model providers (`fake-providers.ts`), e.g. `http://127.0.0.1:4321`. */
    fakeProvidersUrl: string
    /** The request log's ClickHouse (chdb over the HTTP interface, migrations applied). */
    clickhouseUrl: string
    /** Never-down control port of that ClickHouse: `POST /down`, `POST /up`. */
    clickhouseControlUrl: string
  }
}

export {}
