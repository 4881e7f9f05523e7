import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

/** How the CLI proves who it is to the API: nothing (the local stack), IAM SigV4, or a JWT bearer token. */
export type AuthMode = 'none' | 'iam' | 'token';

export interface ApiClientOptions {
  /** The API's base URL, stage included, e.g. `http://127.0.0.1:3000` or `https://abc.execute-api.eu-west-1.amazonaws.com`. */
  endpoint: string;
  /** @defaultValue `iam` for an `amazonaws.com` host, `token` when a token is given, else `none` */
  auth?: AuthMode;
  token?: string;
  /** @defaultValue the region in the host name, else AWS_REGION */
  region?: string;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

/** A failed call, with a message that says what to do; `status` is the HTTP status when the API answered. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The HTTP API, called as JSON over fetch: signs requests for a deployed stack and turns failures into CliErrors. */
export class ApiClient {
  readonly endpoint: string;
  private readonly auth: AuthMode;
  private readonly token: string | undefined;
  private readonly region: string | undefined;
  private readonly fetch: typeof fetch;
  private signer: SignatureV4 | undefined;

  constructor(options: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new CliError(`The endpoint ${JSON.stringify(options.endpoint)} is not a URL: pass --endpoint http://127.0.0.1:3000 (npm start) or your stack's ApiUrl output.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`The endpoint must be http(s), got ${url.protocol}`);
    this.endpoint = url.toString().replace(/\/+$/, '');
    this.token = options.token;
    this.auth = options.auth ?? (options.token ? 'token' : url.hostname.endsWith('.amazonaws.com') ? 'iam' : 'none');
    if (this.auth === 'token' && !this.token) throw new CliError('--auth token needs a token: pass --token or set PERDURE_TOKEN.');
    if (this.auth !== 'none' && url.protocol !== 'https:' && !isLoopback(url.hostname)) {
      throw new CliError(`Refusing to send credentials over plain http to ${url.hostname}: use the https endpoint.`);
    }
    this.region = options.region ?? /\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com$/.exec(url.hostname)?.[1] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    this.fetch = options.fetch ?? fetch;
  }

  get<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<T> {
    return this.call<T>('GET', path, query);
  }

  post<T>(path: string, body?: unknown, query: Record<string, string | number | boolean | undefined> = {}, headers: Record<string, string> = {}): Promise<T> {
    return this.call<T>('POST', path, query, body, headers);
  }

  delete(path: string): Promise<void> {
    return this.call<void>('DELETE', path, {});
  }

  /**
   * Sends one request as it is (the `perdure ui` proxy forwards the browser's requests through it),
   * authenticated; `pathAndQuery` is relative to the endpoint, e.g. `/instances?limit=5`.
   */
  async send(method: string, pathAndQuery: string, body?: string, contentType?: string, extraHeaders: Record<string, string> = {}): Promise<Response> {
    const url = new URL(this.endpoint + pathAndQuery);
    const headers: Record<string, string> = { ...extraHeaders, accept: 'application/json', host: url.host };
    // Every write says it is JSON, empty bodies included: the local server refuses writes that do not (cross-site forms).
    if (body !== undefined || (method !== 'GET' && method !== 'HEAD')) headers['content-type'] = contentType ?? 'application/json';
    if (this.auth === 'token') headers.authorization = `Bearer ${this.token}`;
    if (this.auth === 'iam') Object.assign(headers, await this.sign(method, url, headers, body));
    delete headers.host; // fetch sets it; it was only needed for the signature.
    try {
      return await this.fetch(url, { method, headers, body });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`Cannot reach the Perdure API at ${this.endpoint} (${cause}). Is \`npm start\` running? Otherwise pass --endpoint or set PERDURE_ENDPOINT to your stack's ApiUrl.`);
    }
  }

  private async call<T>(method: string, path: string, query: Record<string, string | number | boolean | undefined>, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
    const response = await this.send(method, `${path}${search.size ? `?${search.toString()}` : ''}`, body === undefined ? undefined : JSON.stringify(body), undefined, extraHeaders);
    const text = await response.text();
    if (response.ok) return (text ? JSON.parse(text) : undefined) as T;
    let error: { code?: string; message?: string } | undefined;
    try {
      error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      // Not our API's JSON: API Gateway's own answers (403 on a bad signature, for example) are handled below.
    }
    if (error?.message) throw new CliError(error.message, response.status, error.code);
    if (response.status === 401 || response.status === 403) {
      throw new CliError(
        `The API refused the request (${response.status}): ${this.auth === 'none' ? 'it needs credentials: use --auth iam (AWS credentials) or --token' : 'check that your credentials may invoke this API'}. ${text.slice(0, 200)}`,
        response.status,
      );
    }
    throw new CliError(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`, response.status);
  }

  private async sign(method: string, url: URL, headers: Record<string, string>, body: string | undefined): Promise<Record<string, string>> {
    if (!this.region) throw new CliError('Cannot tell the AWS region of the endpoint: set AWS_REGION or pass --region.');
    this.signer ??= new SignatureV4({ service: 'execute-api', region: this.region, credentials: defaultProvider(), sha256: NodeSha256 });
    try {
      const signed = await this.signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        body,
      });
      return signed.headers;
    } catch (error) {
      throw new CliError(`No AWS credentials to sign the request with (${(error as Error).message}). Set AWS_PROFILE or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, or run \`aws sso login\`.`);
    }
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape SignatureV4 expects. */
type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data): string | Uint8Array => (typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));

class NodeSha256 {
  private hash;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: Data) {
    this.secret = secret === undefined ? undefined : bytes(secret);
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: Data): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}
