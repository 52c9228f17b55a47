/**
 * The `aws4` signer: the library's RequestSigner given inputs prepared by sigv4.ts (canonical query,
 * wire path, byte strings as text), so that what it signs is what travels on the wire.
 */
import { RequestSigner } from 'aws4';
import { byteStringToText, canonicalQueryString, type PathEncoding, type SigV4Credentials, type SigV4Explanation, type SigV4Scope, type SigV4Signer, type SignableRequest } from './sigv4';

interface SignerInternals {
  authHeader(): string;
  canonicalString(): string;
  stringToSign(): string;
}

function buildSigner(req: SignableRequest, scope: SigV4Scope, creds: SigV4Credentials, datetime: string, pathEncoding: PathEncoding): SignerInternals {
  const headers: Record<string, string> = {};
  for (const [name, value] of req.headers) {
    const text = byteStringToText(value);
    headers[name] = name in headers ? `${headers[name]},${text}` : text;
  }
  // A canonical query with no pairs must not leave a bare `?` (aws4 would sign `=`).
  const query = canonicalQueryString(req.query);
  const signer = new RequestSigner(
    {
      method: req.method,
      host: headers.host,
      path: `${pathEncoding === 'raw' ? byteStringToText(req.path) : req.path}${query === '' ? '' : `?${query}`}`,
      headers,
      body: req.body ?? undefined,
      service: scope.service,
      region: scope.region,
      doNotModifyHeaders: true,
      doNotEncodePath: pathEncoding === 'raw',
    },
    { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
  );
  (signer as unknown as { datetime: string }).datetime = datetime;
  return signer as unknown as SignerInternals;
}

export const AWS4_SIGNER: SigV4Signer = {
  name: 'aws4',
  sign: (req, scope, creds, datetime, pathEncoding) => buildSigner(req, scope, creds, datetime, pathEncoding).authHeader(),
  explain(req, scope, creds, datetime, pathEncoding): SigV4Explanation {
    const signer = buildSigner(req, scope, creds, datetime, pathEncoding);
    return { canonicalRequest: signer.canonicalString(), stringToSign: signer.stringToSign(), authorization: signer.authHeader() };
  },
};
