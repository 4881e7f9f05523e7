import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, silentLogger, TestEnvironment } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { HttpApi } from '../../lib/api/http-api.js';
import { rawExchange, rawRequest, type RawResponse } from './raw-http.js';

/**
 * The local HTTP server (`npm start`) against what another web page, a rebound DNS name or a crafted
 * request can send it. Each of issue 17's probes is a test here: they were answered 2xx before the
 * loopback guard, and must be refused without anything written.
 */
describe('the local HTTP server answers its own page and programs, not other sites', () => {
  let env: TestEnvironment;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;
  let port: number;
  const BODY_LIMIT = 4_096;

  /** Everything a refused request could have changed: every instance, with its history. */
  const state = async () => {
    await env.idle();
    const { instances } = await env.client.list({ includePayloads: true });
    return Promise.all(instances.map(async (instance) => ({ instance, history: await env.client.getHistory(instance.instanceId) })));
  };
  const errorOf = (response: RawResponse) => (JSON.parse(response.body) as { error: { code: string; message: string } }).error;

  beforeAll(async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('order', async (ctx) => ctx.waitForEvent<{ approved: boolean }>('approval'));
    env = await TestEnvironment.create(app);
    await env.client.start('order', {}, { instanceId: 'order-42' });
    await env.client.start('order', {}, { instanceId: 'order-43' });
    await env.idle();
    http = await serveHttpApi(new HttpApi({ client: env.client, maxBodyBytes: BODY_LIMIT }), 0, BODY_LIMIT);
    port = Number(new URL(http.url).port);
  });
  afterAll(async () => {
    await http?.close();
    await env?.close();
  });

  it('refuses the cross-site approval of issue 17 (Origin: http://evil.example, no Content-Type) and records nothing', async () => {
    const before = await state();
    const response = await rawRequest(`${http.url}/instances/order-42/events/approval`, 'POST', { origin: 'http://evil.example' }, '{"approved":true}');
    expect(response.status).toBe(403);
    expect(errorOf(response)).toMatchObject({ code: 'CROSS_SITE_REQUEST', message: expect.stringMatching(/Requests from "http:\/\/evil.example" are refused: only this server's own page/) });
    expect(await state()).toEqual(before);
  });

  it.each([
    ['an event with a JSON body but no Content-Type', '/instances/order-42/events/approval', '{"approved":true}', undefined],
    ['a terminate with an empty body and no Content-Type (an empty form post)', '/instances/order-43/terminate', undefined, undefined],
    ['a start sent as a form', '/orchestrations/order?instanceId=evil-1', 'a=1', 'application/x-www-form-urlencoded'],
    ['a terminate sent as text/plain (what a no-cors fetch can send)', '/instances/order-43/terminate', '{}', 'text/plain'],
    ['a redrive sent as multipart', '/dlq/activities/redrive', '--b--', 'multipart/form-data; boundary=b'],
  ])('refuses %s with 415, whatever the body, and records nothing', async (_what, path, body, contentType) => {
    const before = await state();
    const response = await rawRequest(`${http.url}${path}`, 'POST', contentType ? { 'content-type': contentType } : {}, body);
    expect(response.status).toBe(415);
    expect(errorOf(response)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringMatching(/on a POST: send JSON with Content-Type: application\/json, even with an empty body .* With curl: -H 'content-type: application\/json'\./) });
    expect(await state()).toEqual(before);
  });

  it('refuses a DELETE without Content-Type: application/json', async () => {
    const response = await rawRequest(`${http.url}/instances/order-43`, 'DELETE');
    expect({ status: response.status, code: errorOf(response).code }).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('refuses a rebound host name (DNS rebinding) even for reads: no payload leaves', async () => {
    const response = await rawRequest(`${http.url}/instances?payloads=true`, 'GET', { host: `rebind.attacker.example:${port}` });
    expect(response.status).toBe(403);
    expect(errorOf(response)).toMatchObject({ code: 'HOST_NOT_ALLOWED', message: expect.stringMatching(/answers only to http:\/\/127.0.0.1:\d+ .* the Host "rebind.attacker.example:\d+": .* Use http:\/\/127.0.0.1:\d+\./) });
    expect(response.body).not.toContain('order-42');
  });

  it.each([
    ['another port on 127.0.0.1', `127.0.0.1:1`],
    ['127.0.0.1 without its port', '127.0.0.1'],
    ['a loopback name with a trailing dot', `localhost.:PORT`],
    ['another loopback address', `127.0.0.2:PORT`],
    ['the unspecified address', `0.0.0.0:PORT`],
  ])('refuses the Host of %s', async (_what, host) => {
    const response = await rawRequest(`${http.url}/instances`, 'GET', { host: host.replace('PORT', String(port)) });
    expect({ status: response.status, code: errorOf(response).code }).toEqual({ status: 403, code: 'HOST_NOT_ALLOWED' });
  });

  it('refuses a request with two Host headers, one of them its own', async () => {
    const { status, response } = await rawExchange(port, `GET /instances HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: rebind.attacker.example\r\nConnection: close\r\n\r\n`);
    expect(status).toBe(403);
    expect(response).toContain('HOST_NOT_ALLOWED');
  });

  it.each([
    ['Sec-Fetch-Site: cross-site (an image on another site)', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (a page on another port of 127.0.0.1)', { 'sec-fetch-site': 'same-site' }],
    ['Origin: null (a sandboxed frame or a file)', { origin: 'null' }],
    ['the Origin of another port', { origin: 'http://127.0.0.1:1' }],
    ['the Origin of another loopback name', { origin: 'http://localhost:PORT' }],
  ])('refuses %s, on reads and writes', async (_what, headers) => {
    const withPort = Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, value.replace('PORT', String(port))]));
    const read = await rawRequest(`${http.url}/instances?payloads=true`, 'GET', withPort);
    const write = await rawRequest(`${http.url}/instances/order-43/terminate`, 'POST', { ...withPort, 'content-type': 'application/json' });
    expect([read.status, errorOf(read).code, write.status, errorOf(write).code]).toEqual([403, 'CROSS_SITE_REQUEST', 403, 'CROSS_SITE_REQUEST']);
  });

  it('answers its own page on each loopback name, and programs that send no Origin', async () => {
    for (const name of ['127.0.0.1', 'localhost', '[::1]']) {
      const own = await rawRequest(`${http.url}/instances/order-42`, 'GET', { host: `${name}:${port}`, origin: `http://${name}:${port}`, 'sec-fetch-site': 'same-origin' });
      expect(own.status).toBe(200);
    }
    expect((await rawRequest(`${http.url}/ui`, 'GET', { 'sec-fetch-site': 'none' })).status).toBe(200);
    const raised = await rawRequest(`${http.url}/instances/order-42/events/approval`, 'POST', { 'content-type': 'application/json; charset=utf-8' }, '{"approved":false}');
    expect(raised.status).toBe(202);
  });

  it('sends nosniff, same-origin resource policy and no CORS header on every answer', async () => {
    for (const response of [
      await rawRequest(`${http.url}/instances`, 'GET'),
      await rawRequest(`${http.url}/instances/nope`, 'GET'),
      await rawRequest(`${http.url}/instances`, 'GET', { host: 'evil.example' }),
      await rawRequest(`${http.url}/instances`, 'OPTIONS', { origin: 'http://evil.example', 'access-control-request-method': 'POST' }),
    ]) {
      expect(response.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'cross-origin-resource-policy': 'same-origin' });
      expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    }
  });

  it('answers 413 as soon as a body passes the limit, and closes the connection instead of reading the rest', async () => {
    const head = `POST /orchestrations/order HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`;
    const { status, response } = await rawExchange(port, `${head}${'x'.repeat(BODY_LIMIT * 2)}`);
    expect(status).toBe(413);
    expect(response).toMatch(/connection: close/i);
  });

  it('refuses a request with both Content-Length and Transfer-Encoding (request smuggling) without reading it', async () => {
    const before = await state();
    const smuggled = `POST /instances/order-43/terminate HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST /instances/order-43/terminate HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n\r\n`;
    expect((await rawExchange(port, smuggled)).status).toBe(400);
    expect(await state()).toEqual(before);
  });
});
