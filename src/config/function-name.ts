/**
 * A route's `function_name` (+ `qualifier`) → what the Invoke API call needs, decided at setup.
 * Forms (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_RequestSyntax):
 * `my-function`, `123456789012:function:my-function` (partial ARN),
 * `arn:aws:lambda:us-west-2:123456789012:function:my-function` (full ARN), each optionally ending
 * in `:<version or alias>`.
 */
import { ConfigError } from '../errors';

/** The Invoke API's path prefix (API version 2015-03-31). */
export const INVOKE_PATH_PREFIX = '/2015-03-31/functions/';

export interface LambdaFunctionRef {
  /** What goes in the Invoke path: the name or ARN as given, without the qualifier. */
  readonly functionName: string;
  /** The bare function name (last part of an ARN). */
  readonly name: string;
  readonly qualifier: string | undefined;
  /** From a full ARN; undefined otherwise (the region then comes from the signing settings). */
  readonly region: string | undefined;
  /** From a full or partial ARN. */
  readonly accountId: string | undefined;
  /** `/2015-03-31/functions/<encoded name>/invocations` (+ `?Qualifier=`), as sent on the wire. */
  readonly invokePath: string;
  /** `Qualifier=<encoded>` or ''. */
  readonly invokeQuery: string;
}

const NAME = '[a-zA-Z0-9_-]{1,64}';
// Versions are numbers or $LATEST; aliases letters, digits, `-` and `_` (max 128).
const QUALIFIER = '\\$LATEST|[a-zA-Z0-9_-]{1,128}';
const FULL_ARN = new RegExp(`^(arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-[a-z]+)+-\\d+):(\\d{12}):function:(${NAME}))(?::(${QUALIFIER}))?$`);
const PARTIAL_ARN = new RegExp(`^((\\d{12}):function:(${NAME}))(?::(${QUALIFIER}))?$`);
const BARE = new RegExp(`^(${NAME})(?::(${QUALIFIER}))?$`);
const QUALIFIER_ONLY = new RegExp(`^(?:${QUALIFIER})$`);

/** Invoke API path segment: every byte but RFC 3986 unreserved ones percent-encoded (`:` → %3A, `$` → %24). */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function parseFunctionName(routeId: string, functionName: string, qualifier?: string): LambdaFunctionRef {
  let name: string;
  let base: string;
  let inName: string | undefined;
  let region: string | undefined;
  let accountId: string | undefined;
  let m: RegExpExecArray | null;
  if ((m = FULL_ARN.exec(functionName)) !== null) {
    [, base = '', region, accountId, name = '', inName] = m;
  } else if ((m = PARTIAL_ARN.exec(functionName)) !== null) {
    [, base = '', accountId, name = '', inName] = m;
  } else if ((m = BARE.exec(functionName)) !== null) {
    [, name = '', inName] = m;
    base = name;
  } else {
    throw new ConfigError(
      `route ${routeId}: function_name ${JSON.stringify(functionName)} is not a function name, a partial ARN (123456789012:function:name) or a full ARN (arn:aws:lambda:<region>:123456789012:function:name), optionally with :<version or alias>`,
    );
  }
  if (qualifier !== undefined && !QUALIFIER_ONLY.test(qualifier)) {
    throw new ConfigError(`route ${routeId}: qualifier ${JSON.stringify(qualifier)} is not a version ($LATEST, 1, 2...) or an alias (letters, digits, - and _)`);
  }
  if (qualifier !== undefined && inName !== undefined && qualifier !== inName) {
    throw new ConfigError(`route ${routeId}: qualifier ${JSON.stringify(qualifier)} differs from the one in function_name (${JSON.stringify(inName)}): give one of them`);
  }
  const q = qualifier ?? inName;
  return {
    functionName: base,
    name,
    qualifier: q,
    region,
    accountId,
    invokePath: `${INVOKE_PATH_PREFIX}${encodeSegment(base)}/invocations`,
    invokeQuery: q === undefined ? '' : `Qualifier=${encodeSegment(q)}`,
  };
}

/**
 * The Invoke API endpoint, as the AWS SDKs choose it: the route's `endpoint`, else
 * `AWS_ENDPOINT_URL_LAMBDA`, else `AWS_ENDPOINT_URL`, else `https://lambda.<region>.amazonaws.com`
 * (`.amazonaws.com.cn` in China regions). Plain `http://` is allowed (local stand-ins, VPC proxies).
 */
export function resolveLambdaEndpoint(routeId: string, endpoint: string | undefined, region: string, env: NodeJS.ProcessEnv = process.env): URL {
  const candidates: Array<[string, string | undefined]> = [
    ['endpoint', endpoint],
    ['AWS_ENDPOINT_URL_LAMBDA', env.AWS_ENDPOINT_URL_LAMBDA],
    ['AWS_ENDPOINT_URL', env.AWS_ENDPOINT_URL],
  ];
  for (const [source, value] of candidates) {
    if (value === undefined || value === '') continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`route ${routeId}: ${source} ${JSON.stringify(value)} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`route ${routeId}: ${source} must be an http:// or https:// URL`);
    if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      throw new ConfigError(`route ${routeId}: ${source} must have no query, fragment or credentials`);
    }
    return url;
  }
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return new URL(`https://lambda.${region}.${suffix}`);
}
