import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import { describeInstanceStoreContract } from './instance-store.contract.js';

describeInstanceStoreContract('memory', () => new MemoryInstanceStore());
