/**
 * The route bodies of the seed document (APISIX docs/en/latest/plugins/aws-lambda.md), verbatim:
 * the three Admin API examples and the "Disable Plugin" body. The first one's trailing comma is
 * part of the text on purpose: the Admin API reads bodies as JSON-ish YAML and must accept it.
 */

export const SEED_PUT_APIKEY = `
{
    "plugins": {
        "aws-lambda": {
            "function_uri": "https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix",
            "authorization": {
                "apikey": "<Generated API Key from aws console>",
            },
            "ssl_verify":false
        }
    },
    "uri": "/aws"
}`;

export const SEED_PUT_IAM = `
{
    "plugins": {
        "aws-lambda": {
            "function_uri": "https://ajycz5e0v9.execute-api.us-east-1.amazonaws.com/default/test-apisix",
            "authorization": {
                "iam": {
                    "accesskey": "<access key>",
                    "secretkey": "<access key secret>"
                }
            },
            "ssl_verify": false
        }
    },
    "uri": "/aws"
}`;

export const SEED_PUT_PATH_FORWARDING = `
{
    "plugins": {
        "aws-lambda": {
            "function_uri": "https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com",
            "authorization": {
                "apikey": "<Generate API key>"
            },
            "ssl_verify":false
        }
    },
    "uri": "/aws/*"
}`;

export const SEED_PUT_DISABLE_PLUGIN = `
{
    "uri": "/aws",
    "plugins": {},
    "upstream": {
        "type": "roundrobin",
        "nodes": {
            "127.0.0.1:1980": 1
        }
    }
}`;
