/**
 * The lab's certificate authority and the server certificate of its emulated HTTPS services (the
 * cloud APIs and the npm registry, under their real host names). The CA is made once per cache
 * directory (the image trusts it, so it is part of the image's cache key); the server certificate
 * is issued per run. openssl does the work.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LabCa {
  certificatePath: string;
  keyPath: string;
}

export interface ServerCertificate {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The CA under `directory` (made when absent): a P-256 key (0600) and a 10-year self-signed certificate. */
export function labCa(directory: string): LabCa {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const keyPath = join(directory, 'lab-ca.key');
  const certificatePath = join(directory, 'lab-ca.crt');
  if (!existsSync(certificatePath)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-sha256',
      '-days',
      '3650',
      '-subj',
      '/CN=wiremesh boot lab CA',
      '-out',
      certificatePath,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }
  return { certificatePath, keyPath };
}

/** A certificate for `names`, signed by the lab CA, made in `directory`. */
export function issueServerCertificate(ca: LabCa, directory: string, names: string[]): ServerCertificate {
  const key = join(directory, 'server.key');
  const csr = join(directory, 'server.csr');
  const cert = join(directory, 'server.crt');
  const extensions = join(directory, 'server.ext');
  writeFileSync(extensions, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${names[0]}`, '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certificatePath,
    '-CAkey',
    ca.keyPath,
    '-CAcreateserial',
    '-days',
    '7',
    '-sha256',
    '-extfile',
    extensions,
    '-out',
    cert,
  ]);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}
