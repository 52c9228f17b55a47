// Test and demo TLS material made with the openssl CLI: a private CA, a leaf for localhost /
// 127.0.0.1 / ::1 signed by it, and an unrelated self-signed leaf for verify-failure tests.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  caCertPem: string;
  /** A PEM file usable as NODE_EXTRA_CA_CERTS (or Envoy's trusted_ca) by another process. */
  caCertPath: string;
  /** Leaf for DNS:localhost, IP:127.0.0.1, IP:::1, signed by the CA. */
  cert: string;
  key: string;
  /** Self-signed leaf with the same names, not issued by the CA: clients trusting the CA must reject it. */
  selfSignedCert: string;
  selfSignedKey: string;
  dir: string;
}

const CA_VALIDITY_DAYS = 3650;
const LEAF_VALIDITY_DAYS = 825;

// Our own config file so the result does not depend on the distribution's openssl.cnf
// (whose default x509_extensions would collide with ours).
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no

[dn]
CN = placeholder

[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[self_signed_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
`;

const EC_KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') {
      throw new Error('generateTlsMaterial needs the openssl CLI, which is not on PATH (Debian: apt-get install openssl)');
    }
    const stderr = e.stderr?.toString('utf8').trim() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr || e.message}`);
  }
}

function randomSerial(): string {
  // Positive 64-bit serial: clear the top bit so openssl does not read it as negative.
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

export function generateTlsMaterial(dir?: string): TlsMaterial {
  let outDir: string;
  if (dir === undefined) {
    outDir = mkdtempSync(join(tmpdir(), 'aws-lambda-sidecar-tls-'));
  } else {
    mkdirSync(dir, { recursive: true });
    outDir = dir;
  }
  const path = (name: string): string => join(outDir, name);
  const configPath = path('openssl.cnf');
  writeFileSync(configPath, OPENSSL_CONFIG);

  openssl([
    'req', '-x509', ...EC_KEY_ARGS, '-config', configPath, '-extensions', 'ca_ext',
    '-subj', '/CN=aws-lambda-sidecar test CA', '-days', String(CA_VALIDITY_DAYS),
    '-set_serial', randomSerial(), '-keyout', path('ca.key'), '-out', path('ca.crt'),
  ]);
  openssl([
    'req', '-new', ...EC_KEY_ARGS, '-config', configPath,
    '-subj', '/CN=localhost', '-keyout', path('leaf.key'), '-out', path('leaf.csr'),
  ]);
  openssl([
    'x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'),
    '-set_serial', randomSerial(), '-days', String(LEAF_VALIDITY_DAYS), '-sha256',
    '-extfile', configPath, '-extensions', 'leaf_ext', '-out', path('leaf.crt'),
  ]);
  openssl([
    'req', '-x509', ...EC_KEY_ARGS, '-config', configPath, '-extensions', 'self_signed_ext',
    '-subj', '/CN=localhost', '-days', String(LEAF_VALIDITY_DAYS), '-set_serial', randomSerial(),
    '-keyout', path('self-signed.key'), '-out', path('self-signed.crt'),
  ]);

  const read = (name: string): string => readFileSync(path(name), 'utf8');
  return {
    caCertPem: read('ca.crt'),
    caCertPath: path('ca.crt'),
    cert: read('leaf.crt'),
    key: read('leaf.key'),
    selfSignedCert: read('self-signed.crt'),
    selfSignedKey: read('self-signed.key'),
    dir: outDir,
  };
}
