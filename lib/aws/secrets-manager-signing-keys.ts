import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CallbackSigningKeys, Clock } from '../ports.js';
import { systemClock } from '../ports.js';

export interface SecretsManagerSigningKeysOptions {
  client: SecretsManagerClient;
  /** The secret's ARN or name (the construct sets PERDURE_CALLBACK_KEY_SECRET). */
  secretId: string;
  /** How long keys are used before they are read again. @defaultValue 5 minutes */
  cacheMs?: number;
  /** A forced read (after a signature mismatch) happens at most this often. @defaultValue 1 minute */
  minRefreshMs?: number;
  clock?: Clock;
}

const MIN_KEY_BYTES = 32;

/**
 * The callback signing keys in a Secrets Manager secret: its `AWSCURRENT` version signs and verifies, its
 * `AWSPREVIOUS` version (the value before the last `put-secret-value`) still verifies, so a rotation does
 * not break URLs already handed out; a second rotation does. Both are cached for a few minutes.
 */
export class SecretsManagerSigningKeys implements CallbackSigningKeys {
  private readonly cacheMs: number;
  private readonly minRefreshMs: number;
  private readonly clock: Clock;
  private cached: { keys: Promise<Uint8Array[]>; at: number } | undefined;

  constructor(private readonly options: SecretsManagerSigningKeysOptions) {
    this.cacheMs = options.cacheMs ?? 5 * 60_000;
    this.minRefreshMs = options.minRefreshMs ?? 60_000;
    this.clock = options.clock ?? systemClock;
  }

  async current(): Promise<Uint8Array> {
    return (await this.all())[0]!;
  }

  async all(options: { refresh?: boolean } = {}): Promise<Uint8Array[]> {
    const now = this.clock.now();
    const age = this.cached ? now - this.cached.at : Infinity;
    // An unauthenticated caller can force a refresh (with a bad signature), so refreshes are rate-limited.
    if (age > this.cacheMs || (options.refresh && age > this.minRefreshMs)) {
      const keys = this.read();
      this.cached = { keys, at: now };
      keys.catch(() => {
        if (this.cached?.keys === keys) this.cached = undefined;
      });
    }
    return this.cached!.keys;
  }

  private async read(): Promise<Uint8Array[]> {
    const [current, previous] = await Promise.all([this.readStage('AWSCURRENT'), this.readStage('AWSPREVIOUS')]);
    if (!current) throw new Error(`The callback signing secret ${this.options.secretId} has no current value: give it one of at least ${MIN_KEY_BYTES} random bytes.`);
    return previous ? [current, previous] : [current];
  }

  private async readStage(stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<Uint8Array | undefined> {
    try {
      const { SecretString, SecretBinary } = await this.options.client.send(new GetSecretValueCommand({ SecretId: this.options.secretId, VersionStage: stage }));
      const key = SecretBinary ?? (SecretString === undefined ? undefined : Buffer.from(SecretString, 'utf8'));
      if (key && key.length < MIN_KEY_BYTES) throw new Error(`The ${stage} value of the callback signing secret ${this.options.secretId} has ${key.length} bytes: a key needs at least ${MIN_KEY_BYTES}.`);
      return key;
    } catch (error) {
      // A secret that was never rotated has no previous version.
      if (stage === 'AWSPREVIOUS' && (error as Error).name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }
}
