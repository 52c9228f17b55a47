// Function payloads decoded as API Gateway decodes them (AWS's output-format rules, cited in the module).
import { decodeRawResponse, decodeV1Response, decodeV2Response } from '../../../../src/invoke/lambda/proxy-response';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('format 2.0', () => {
  it('statusCode (number or numeric string), headers lower-cased, cookies one set-cookie each, body', () => {
    const r = decodeV2Response(json({ statusCode: '201', headers: { 'Content-Type': 'text/plain', 'X-N': 5 }, cookies: ['a=1; Path=/', 'b=2'], body: 'made' }));
    expect(r.status).toBe(201);
    expect(r.headers).toEqual([['content-type', 'text/plain'], ['x-n', '5'], ['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2']]);
    expect(r.body.toString()).toBe('made');
  });

  it('isBase64Encoded bodies come back byte-exact', () => {
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x89]);
    const r = decodeV2Response(json({ statusCode: 200, isBase64Encoded: true, body: bytes.toString('base64') }));
    expect(r.body.equals(bytes)).toBe(true);
  });

  it('AWS table: a JSON string payload is the body itself, 200 application/json', () => {
    const r = decodeV2Response(json('Hello from Lambda!'));
    expect(r).toEqual({ status: 200, headers: [['content-type', 'application/json']], body: Buffer.from('Hello from Lambda!') });
  });

  it('AWS table: an object without statusCode is the body, as sent', () => {
    const payload = Buffer.from('{ "message": "Hello from Lambda!" }');
    const r = decodeV2Response(payload);
    expect(r.status).toBe(200);
    expect(r.headers).toEqual([['content-type', 'application/json']]);
    expect(r.body.toString()).toBe('{ "message": "Hello from Lambda!" }');
    expect(decodeV2Response(json([1, 2])).body.toString()).toBe('[1,2]');
    expect(decodeV2Response(json(null)).body.toString()).toBe('null');
  });

  it('non-ASCII header values travel as UTF-8 bytes; hop-by-hop headers are dropped', () => {
    const r = decodeV2Response(json({ statusCode: 200, headers: { 'x-name': 'José', connection: 'close', 'transfer-encoding': 'chunked' } }));
    expect(r.headers).toEqual([['x-name', Buffer.from('José', 'utf8').toString('latin1')]]);
    expect(r.body.length).toBe(0);
  });

  it.each([
    ['statusCode out of range', { statusCode: 42 }],
    ['statusCode not numeric', { statusCode: 'OK' }],
    ['statusCode fractional', { statusCode: 200.5 }],
    ['headers not an object', { statusCode: 200, headers: ['a'] }],
    ['a header value an object', { statusCode: 200, headers: { a: { b: 1 } } }],
    ['a header value with CR LF', { statusCode: 200, headers: { a: 'x\r\nset-cookie: evil=1' } }],
    ['a header name with a space', { statusCode: 200, headers: { 'a b': 'x' } }],
    ['cookies not strings', { statusCode: 200, cookies: [1] }],
    ['body not a string', { statusCode: 200, body: { a: 1 } }],
    ['isBase64Encoded not a boolean', { statusCode: 200, body: 'x', isBase64Encoded: 'yes' }],
  ])('%s → ERR_FUNCTION_RESPONSE', (_, payload) => {
    expect(codeOf(() => decodeV2Response(json(payload)))).toBe('ERR_FUNCTION_RESPONSE');
  });

  it('a payload that is not JSON → ERR_FUNCTION_RESPONSE (502)', () => {
    let status: number | undefined;
    try {
      decodeV2Response(Buffer.from('not json'));
    } catch (err) {
      status = (err as { status?: number }).status;
    }
    expect(status).toBe(502);
  });
});

describe('format 1.0', () => {
  it('headers and multiValueHeaders merged; a name in both takes only the multiValueHeaders values', () => {
    const r = decodeV1Response(json({
      statusCode: 200,
      headers: { 'Content-Type': 'text/html', 'Set-Cookie': 'dropped=1', 'X-One': 'a' },
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'], 'X-Many': ['1', '2'] },
      body: '<p>hi</p>',
    }));
    expect(r.status).toBe(200);
    expect(r.headers).toEqual([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-many', '1'],
      ['x-many', '2'],
      ['content-type', 'text/html'],
      ['x-one', 'a'],
    ]);
    expect(r.body.toString()).toBe('<p>hi</p>');
  });

  it('binary body byte-exact; body null or absent is empty', () => {
    const bytes = Buffer.from([0xff, 0, 0x80]);
    expect(decodeV1Response(json({ statusCode: 200, body: bytes.toString('base64'), isBase64Encoded: true })).body.equals(bytes)).toBe(true);
    expect(decodeV1Response(json({ statusCode: 204, body: null })).body.length).toBe(0);
    expect(decodeV1Response(json({ statusCode: '302', headers: { location: '/x' } }))).toMatchObject({ status: 302, headers: [['location', '/x']] });
  });

  it.each([
    ['no statusCode', { body: 'x' }],
    ['a bare string', 'hello'],
    ['an array', [1]],
    ['multiValueHeaders value not an array', { statusCode: 200, multiValueHeaders: { a: 'x' } }],
    ['multiValueHeaders not an object', { statusCode: 200, multiValueHeaders: 'x' }],
    ['body a number', { statusCode: 200, body: 5 }],
  ])('%s → ERR_FUNCTION_RESPONSE', (_, payload) => {
    expect(codeOf(() => decodeV1Response(json(payload)))).toBe('ERR_FUNCTION_RESPONSE');
  });
});

describe('format raw', () => {
  it('the payload unchanged as a 200 application/json body, whatever it holds', () => {
    const payload = json({ statusCode: 404, body: 'not decoded' });
    expect(decodeRawResponse(payload)).toEqual({ status: 200, headers: [['content-type', 'application/json']], body: payload });
  });
});
