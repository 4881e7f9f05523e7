import { spawn } from 'node:child_process';

/**
 * Asks the desktop to open `url` in the default browser (`open`, `xdg-open` or `start`); resolves false
 * when there is no such command (a server without a desktop). The URL is on the opener's command line
 * while it runs, where other users of the machine can read it.
 */
export function openInBrowser(url: string): Promise<boolean> {
  const [command, args]: [string, string[]] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
