import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../lib/local/dynamodb-local.js';
import { startSqsS3Local } from '../../lib/local/sqs-s3-local.js';
import { rawExchange, rawRequest } from './raw-http.js';

/**
 * The local S3 store keeps buckets and objects under its data folder (`.perdure/s3` for npm start), over
 * the real S3 wire protocol (fauxqs's routes, the AWS SDK). Bucket names become folder names, so no name
 * may reach outside that folder, however it is encoded; object bytes are read from disk when asked for.
 */

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');

/** Every file and folder under `dir`, with the contents of files, for "nothing changed" checks. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (folder: string, prefix: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path, `${prefix}${entry.name}/`);
      else out[`${prefix}${entry.name}`] = entry.isSymbolicLink() ? '(link)' : readFileSync(path).toString('base64').slice(0, 64);
    }
  };
  walk(dir, '');
  return out;
}

describe('the local S3 store on disk', () => {
  // The layout of npm start: the S3 folder next to DynamoDB's, with something outside both to protect.
  const root = mkdtempSync(join(tmpdir(), 'perdure-s3-store-'));
  const dataDir = join(root, '.perdure');
  const s3Dir = join(dataDir, 's3');
  const outside = join(root, 'outside');
  let emulator: RunningEmulator;
  let s3: S3Client;
  const connect = async (cacheBytes?: number) => {
    emulator = await startSqsS3Local({ dataDir: s3Dir, cacheBytes });
    s3 = new S3Client({ endpoint: emulator.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, forcePathStyle: true, maxAttempts: 1 });
  };
  const restart = async (cacheBytes?: number) => {
    s3.destroy();
    await emulator.stop();
    await connect(cacheBytes);
  };
  const getText = async (Bucket: string, Key: string) => (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
  const keys = async (Bucket: string, Prefix?: string) => (await s3.send(new ListObjectsV2Command({ Bucket, Prefix }))).Contents?.map((object) => object.Key) ?? [];

  beforeAll(async () => {
    mkdirSync(join(dataDir, 'dynamodb'), { recursive: true });
    writeFileSync(join(dataDir, 'dynamodb', 'shared-local-instance.db'), 'the table');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'not for the emulator');
    await connect();
    await s3.send(new CreateBucketCommand({ Bucket: 'payloads' }));
  });
  afterAll(async () => {
    s3?.destroy();
    await emulator?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const DOT_DOT = [
    ['%2E%2E', 'the encoded dots of issue 17'],
    ['%2e%2e', 'lowercase escapes'],
    ['.%2E', 'one dot encoded'],
    ['%2E.', 'the other dot encoded'],
    ['..', 'plain dots (curl --path-as-is)'],
    ['%252E%252E', 'double encoding'],
    ['..%5C', 'a backslash after the dots'],
    ['%5C..%5C..', 'backslashes around the dots'],
    ['..%2F..', 'an encoded slash between dot pairs'],
    ['%2Fetc', 'an absolute path'],
    ['C%3A%5CWindows', 'a Windows drive path'],
    ['..%00', 'dots and a NUL byte'],
    ['%00', 'a NUL byte'],
    ['.', 'one dot'],
    ['%2E', 'one encoded dot'],
  ] as const;

  it.each(DOT_DOT)('refuses the bucket name /%s (%s): PUT and DELETE leave the data folder and its parent untouched', async (segment) => {
    const before = { data: tree(dataDir), root: readdirSync(root).sort() };
    const put = await rawExchange(emulator.port, `PUT /${segment} HTTP/1.1\r\nHost: 127.0.0.1:${emulator.port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    const putObject = await rawExchange(emulator.port, `PUT /${segment}/x HTTP/1.1\r\nHost: 127.0.0.1:${emulator.port}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`);
    const del = await rawExchange(emulator.port, `DELETE /${segment} HTTP/1.1\r\nHost: 127.0.0.1:${emulator.port}\r\nConnection: close\r\n\r\n`);
    for (const { status, response } of [put, putObject, del]) {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
      if (status === 400) expect(response).toContain('<Code>InvalidBucketName</Code>');
    }
    expect({ data: tree(dataDir), root: readdirSync(root).sort() }).toEqual(before);
    expect(existsSync(join(dataDir, 'dynamodb', 'shared-local-instance.db'))).toBe(true);
  });

  it.each([
    ['ab', /has 2 characters/],
    ['a'.repeat(64), /has 64 characters/],
    ['Payloads', /is not valid/],
    ['under_score', /is not valid/],
    ['-payloads', /is not valid/],
    ['payloads-', /is not valid/],
    ['pay..loads', /is not valid/],
    ['192.168.1.10', /is an IP address/],
    ['xn--payloads', /uses a prefix or suffix S3 reserves/],
    ['pay%20loads', /is not valid/],
  ])('refuses the bucket name %s with InvalidBucketName, and creates no folder', async (name, message) => {
    const before = tree(dataDir);
    const response = await rawRequest(`${emulator.endpoint}/${name}`, 'PUT');
    expect(response.status).toBe(400);
    expect(response.body).toContain('<Code>InvalidBucketName</Code>');
    expect(response.body).toMatch(message);
    expect(response.body).toMatch(/use 3–63 lowercase letters, digits, dots and hyphens/);
    expect(tree(dataDir)).toEqual(before);
  });

  it('refuses keys S3 refuses: over 1024 bytes, or with a control character', async () => {
    const tooLong = await rawRequest(`${emulator.endpoint}/payloads/${'k'.repeat(1025)}`, 'PUT', {}, 'x');
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toContain('<Code>KeyTooLongError</Code>');
    const control = await rawRequest(`${emulator.endpoint}/payloads/a%01b`, 'PUT', {}, 'x');
    expect(control.status).toBe(400);
    expect(control.body).toContain('<Code>InvalidArgument</Code>');
    expect(await keys('payloads')).toEqual([]);
  });

  it('keeps a key with ../ in it inside its bucket: keys name files by their hash, never by their text', async () => {
    const key = '../../../outside/secret.txt';
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: key, Body: 'inside' }));
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('not for the emulator');
    expect(readFileSync(join(s3Dir, 'payloads', hashOf(key)), 'utf8')).toBe('inside');
    expect(await getText('payloads', key)).toBe('inside');
  });

  it('does not take a link in the data folder for a bucket, and will not write through it', async () => {
    const elsewhere = join(outside, 'bucket-elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(s3Dir, 'linked-bucket'));
    await restart();
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name)).toEqual(['payloads']);
    const created = await rawRequest(`${emulator.endpoint}/linked-bucket`, 'PUT');
    expect(created.status).toBe(500);
    expect(created.body).toMatch(/is a link or a file: remove it/);
    expect(created.body).not.toContain(root);
    expect((await rawRequest(`${emulator.endpoint}/linked-bucket/x`, 'PUT', {}, 'through the link?')).status).toBe(404);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('does not follow a link planted as an object file: reads refuse it, writes and deletes replace the link and not its target', async () => {
    await restart(0); // no cache: every read goes to the disk
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'planted', Body: 'mine' }));
    const file = join(s3Dir, 'payloads', hashOf('planted'));
    rmSync(file);
    symlinkSync(join(outside, 'secret.txt'), file);
    const read = await rawRequest(`${emulator.endpoint}/payloads/planted`, 'GET');
    expect(read.status).toBe(500);
    expect(read.body).toMatch(/<Message>A file of bucket payloads in the local data folder is a link: the local S3 store only reads its own plain files.<\/Message>/);
    expect(read.body).not.toContain('not for the emulator');
    expect(read.body).not.toContain(root);
    await restart(); // a link found at start is no object
    const afterRestart = await rawRequest(`${emulator.endpoint}/payloads/planted`, 'GET');
    expect(afterRestart.status).toBe(404);
    expect(afterRestart.body).not.toContain('not for the emulator');

    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'planted', Body: 'mine again' }));
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('not for the emulator');
    expect(await getText('payloads', 'planted')).toBe('mine again');

    rmSync(file);
    symlinkSync(join(outside, 'secret.txt'), file);
    expect((await rawRequest(`${emulator.endpoint}/payloads/planted`, 'DELETE')).status).toBe(204);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('not for the emulator');
  });

  it('answers a failed write without naming paths of the data folder', async () => {
    mkdirSync(join(s3Dir, 'payloads', hashOf('blocked'), 'in-the-way'), { recursive: true });
    const response = await rawRequest(`${emulator.endpoint}/payloads/blocked`, 'PUT', {}, 'bytes');
    expect(response.status).toBe(500);
    expect(response.body).toContain('<Code>InternalError</Code>');
    expect(response.body).not.toContain(root);
    expect(readdirSync(join(s3Dir, 'payloads')).filter((name) => name.includes('.tmp-'))).toEqual([]);
    rmSync(join(s3Dir, 'payloads', hashOf('blocked')), { recursive: true });
  });

  it('does not take a linked metadata file for an object', async () => {
    const key = 'payloads/linked-meta';
    writeFileSync(join(outside, 'meta.json'), JSON.stringify({ key, contentType: 'text/plain', metadata: {}, etag: '"x"', lastModified: new Date().toISOString() }));
    writeFileSync(join(s3Dir, 'payloads', hashOf(key)), 'bytes');
    symlinkSync(join(outside, 'meta.json'), join(s3Dir, 'payloads', `${hashOf(key)}.json`));
    await restart();
    expect(await keys('payloads', 'payloads/')).toEqual([]);
  });

  it('reads an object from disk when asked for, not at start: bytes changed on disk after the start are what GET returns', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'on-demand', Body: 'before' }));
    await restart();
    writeFileSync(join(s3Dir, 'payloads', hashOf('on-demand')), 'after!');
    expect(await getText('payloads', 'on-demand')).toBe('after!');
  });

  it('serves objects larger than its cache, and more of them than fit in it, intact', async () => {
    await restart(256 * 1024);
    const bodies = Array.from({ length: 12 }, () => randomBytes(100 * 1024));
    for (const [i, body] of bodies.entries()) await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: `cached/${i}`, Body: body }));
    for (let round = 0; round < 2; round++) {
      for (const [i, body] of bodies.entries()) {
        const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'payloads', Key: `cached/${i}` }))).Body!.transformToByteArray());
        expect(got.equals(body)).toBe(true);
      }
    }
    const big = randomBytes(3 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'cached/big', Body: big }));
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'cached/big', Range: 'bytes=1000-1999' }))).Body!.transformToByteArray());
    expect(got.equals(big.subarray(1000, 2000))).toBe(true);
  });

  it('lists in S3 order (UTF-8 bytes) and pages with continuation tokens through every key once, before and after a restart', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const names = ['B', 'a', '_', '-', 'é', '\uFF21', '\uFFFD', '😀', 'a/b', 'a-b', 'aB', 'Ab'];
    const all = Array.from({ length: 150 }, (_, i) => `payloads/i-${i % 3}/${names[i % names.length]}${i}`);
    for (const key of all) await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: key }));
    const s3Order = [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const pages = async (Prefix: string) => {
      const listed: string[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix, MaxKeys: 7, ContinuationToken }));
        listed.push(...(page.Contents ?? []).map((object) => object.Key!));
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return listed;
    };
    expect(await pages('payloads/')).toEqual(s3Order);
    expect(await pages('payloads/i-1/')).toEqual(s3Order.filter((key) => key.startsWith('payloads/i-1/')));
    const rolledUp = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'payloads/', Delimiter: '/' }));
    expect(rolledUp.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['payloads/i-0/', 'payloads/i-1/', 'payloads/i-2/']);
    expect(rolledUp.Contents ?? []).toEqual([]);

    await restart();
    expect(await pages('payloads/')).toEqual(s3Order);
  });
});
