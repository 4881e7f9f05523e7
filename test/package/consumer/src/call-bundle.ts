// Loads a bundled Lambda asset (the first argument) and sends its API handler a request for a route that
// does not exist, which the API answers without calling AWS. Prints the exports and the response as JSON.
import { pathToFileURL } from 'node:url';
import type { LambdaHandlers } from 'perdure/aws';

const bundle = (await import(pathToFileURL(process.argv[2]!).href)) as LambdaHandlers;
const response = await bundle.api({ rawPath: '/no-such-route', requestContext: { http: { method: 'GET' } } });
console.log(JSON.stringify({ exports: Object.keys(bundle).sort(), response }));
