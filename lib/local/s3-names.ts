/**
 * S3's naming rules, checked by the local S3 store before a name reaches the disk. A bucket name becomes
 * a folder name, so these rules are what keep `..`, `.`, separators and NUL bytes (in any encoding, once
 * the URL is decoded) out of the data folder. Keys never become paths (their files are named by their
 * SHA-256), but they are checked too, so that two keys never share one file.
 */

const BUCKET_RULE = 'use 3–63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, without two dots in a row';

/**
 * What is wrong with a bucket name under S3's general purpose bucket rules, or undefined if it is valid.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 */
export function bucketNameProblem(name: string): string | undefined {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
  if (name.length < 3 || name.length > 63) return `The bucket name ${shown} has ${name.length} characters: ${BUCKET_RULE}.`;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) || name.includes('..')) return `The bucket name ${shown} is not valid: ${BUCKET_RULE}.`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `The bucket name ${shown} is an IP address: ${BUCKET_RULE}.`;
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name) || /(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) {
    return `The bucket name ${shown} uses a prefix or suffix S3 reserves: ${BUCKET_RULE}.`;
  }
  return undefined;
}

/** What is wrong with an object key, or undefined: 1 to 1024 bytes of UTF-8, without control characters. */
export function objectKeyProblem(key: string): { code: 'KeyTooLongError' | 'InvalidArgument'; message: string } | undefined {
  const bytes = Buffer.byteLength(key);
  if (bytes > 1024) return { code: 'KeyTooLongError', message: `The key is ${bytes} bytes of UTF-8; S3 allows at most 1024.` };
  if (bytes === 0) return { code: 'InvalidArgument', message: 'The key is empty: name the object.' };
  // A lone surrogate has no UTF-8 form: two such keys would be stored as one.
  if (Buffer.from(key).toString() !== key) return { code: 'InvalidArgument', message: 'The key is not valid Unicode (a lone surrogate): encode it as UTF-8.' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return { code: 'InvalidArgument', message: 'The key holds a control character (U+0000–U+001F or U+007F), which S3 listings cannot carry in XML: leave it out.' };
  return undefined;
}
