import { describe, expect, it } from 'vitest'
import {
  REGION,
  credentialsText,
  operatorCredentials,
  parseBedrockCredentials,
  regionalBaseUrl,
  secretsOf,
  type AwsVariables,
} from './credentials'

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'

/** The message `parseBedrockCredentials` throws for `text` (fails the test when it does not). */
const failure = (text: string): string => {
  try {
    parseBedrockCredentials(text)
  } catch (err) {
    if (err instanceof Error) return err.message
  }
  throw new Error('expected the credentials to be refused')
}

describe('REGION', () => {
  it('should accept commercial and GovCloud Regions', () => {
    for (const region of [
      'us-east-1',
      'eu-central-2',
      'ap-southeast-4',
      'us-gov-west-1',
      'il-central-1',
    ]) {
      expect(REGION.test(region), region).toBe(true)
    }
  })

  it('should refuse anything that could carry another host into the name', () => {
    for (const region of [
      '',
      'us-east-1.evil.com',
      'evil.com/x',
      'us-east-1#',
      'US-EAST-1',
      'us-east-12',
      'us-east',
      'us-east-1\n',
      'localhost',
      '169.254.169.254',
    ]) {
      expect(REGION.test(region), JSON.stringify(region)).toBe(false)
    }
  })
})

describe('regionalBaseUrl', () => {
  it('should name the Bedrock Runtime host of the Region', () => {
    expect(regionalBaseUrl('eu-west-3')).toBe('https://bedrock-runtime.eu-west-3.amazonaws.com')
  })

  it('should throw for a string that is not a Region', () => {
    expect(() => regionalBaseUrl('evil.example.com/')).toThrow()
  })
})

describe('parseBedrockCredentials', () => {
  it('should read an access key pair, with or without a session token', () => {
    expect(
      parseBedrockCredentials(
        JSON.stringify({
          region: 'us-west-2',
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: SECRET,
        }),
      ),
    ).toEqual({ region: 'us-west-2', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET })
    expect(
      parseBedrockCredentials(
        JSON.stringify({
          region: 'us-west-2',
          accessKeyId: 'ASIAEXAMPLE',
          secretAccessKey: SECRET,
          sessionToken: 'token/with+base64==',
        }),
      ),
    ).toEqual({
      region: 'us-west-2',
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: SECRET,
      sessionToken: 'token/with+base64==',
    })
  })

  it('should read a Bedrock API key', () => {
    expect(parseBedrockCredentials('{"region":"eu-west-1","apiKey":"ABSKexample"}')).toEqual({
      region: 'eu-west-1',
      apiKey: 'ABSKexample',
    })
  })

  it('should round-trip through credentialsText', () => {
    const credentials = {
      region: 'us-east-1',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: SECRET,
      sessionToken: 'tok',
    }
    expect(parseBedrockCredentials(credentialsText(credentials))).toEqual(credentials)
    expect(credentialsText({ region: 'us-east-1', apiKey: 'k' })).toBe(
      '{"region":"us-east-1","apiKey":"k"}',
    )
  })

  it('should name what is wrong and never echo a value', () => {
    const cases: readonly [string, RegExp][] = [
      ['not json at all', /not JSON/],
      ['["a"]', /JSON object/],
      ['{"region":"us-east-1","apiKey":"k","extraSecretField":"x"}', /a field other than/],
      ['{"apiKey":"k"}', /"region" must be an AWS Region/],
      ['{"region":"us-east-1.evil.com","apiKey":"k"}', /"region" must be an AWS Region/],
      ['{"region":"us-east-1"}', /"accessKeyId" is missing/],
      ['{"region":"us-east-1","accessKeyId":"AKID"}', /"secretAccessKey" is missing/],
      ['{"region":"us-east-1","apiKey":"k","accessKeyId":"AKID"}', /either "apiKey"/],
      ['{"region":"us-east-1","apiKey":"k","sessionToken":"t"}', /either "apiKey"/],
      ['{"region":"us-east-1","apiKey":"has space"}', /"apiKey" must be a non-empty string/],
      ['{"region":"us-east-1","apiKey":""}', /"apiKey" must be a non-empty string/],
      ['{"region":"us-east-1","apiKey":42}', /"apiKey" must be a non-empty string/],
    ]
    for (const [text, expected] of cases) {
      const message = failure(text)
      expect(message, text).toMatch(expected)
      expect(message, text).not.toContain('evil')
      expect(message, text).not.toContain('has space')
      expect(message, text).not.toContain('extraSecretField')
    }
  })
})

describe('secretsOf', () => {
  it('should list every part of a credential that must not reach a client', () => {
    expect(
      secretsOf({
        region: 'us-east-1',
        accessKeyId: 'AKID',
        secretAccessKey: SECRET,
        sessionToken: 'T',
      }),
    ).toEqual([SECRET, 'AKID', 'T'])
    expect(secretsOf({ region: 'us-east-1', apiKey: 'ABSKkey' })).toEqual(['ABSKkey'])
  })
})

describe('operatorCredentials', () => {
  const issuesOf = (env: AwsVariables) =>
    operatorCredentials(env).issues.map(({ variable, message }) => `${variable}: ${message}`)

  it('should configure nothing without credentials (a Region alone is no error)', () => {
    expect(operatorCredentials({})).toEqual({ credentials: undefined, issues: [] })
    expect(operatorCredentials({ AWS_REGION: 'us-east-1' })).toEqual({
      credentials: undefined,
      issues: [],
    })
  })

  it('should read an access key pair and a session token', () => {
    expect(
      operatorCredentials({
        AWS_REGION: 'eu-central-1',
        AWS_ACCESS_KEY_ID: 'AKID',
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_SESSION_TOKEN: 'T',
      }),
    ).toEqual({
      credentials: {
        region: 'eu-central-1',
        accessKeyId: 'AKID',
        secretAccessKey: SECRET,
        sessionToken: 'T',
      },
      issues: [],
    })
  })

  it('should read a Bedrock API key', () => {
    expect(
      operatorCredentials({ AWS_REGION: 'us-west-2', AWS_BEARER_TOKEN_BEDROCK: 'ABSKkey' }),
    ).toEqual({ credentials: { region: 'us-west-2', apiKey: 'ABSKkey' }, issues: [] })
  })

  it('should name the variable of every combination that cannot work', () => {
    expect(issuesOf({ AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: SECRET })).toEqual([
      'AWS_REGION: is required with AWS_ACCESS_KEY_ID (the Bedrock Region, e.g. us-east-1)',
    ])
    expect(issuesOf({ AWS_BEARER_TOKEN_BEDROCK: 'k' })).toEqual([
      'AWS_REGION: is required with AWS_BEARER_TOKEN_BEDROCK (the Bedrock Region, e.g. us-east-1)',
    ])
    expect(issuesOf({ AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKID' })).toEqual([
      'AWS_SECRET_ACCESS_KEY: is required with AWS_ACCESS_KEY_ID',
    ])
    expect(issuesOf({ AWS_REGION: 'us-east-1', AWS_SECRET_ACCESS_KEY: SECRET })).toEqual([
      'AWS_ACCESS_KEY_ID: is required with AWS_SECRET_ACCESS_KEY',
    ])
    expect(issuesOf({ AWS_REGION: 'us-east-1', AWS_SESSION_TOKEN: 'T' })).toEqual([
      'AWS_SESSION_TOKEN: is used only with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    ])
    expect(
      issuesOf({
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKID',
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_BEARER_TOKEN_BEDROCK: 'k',
      }),
    ).toEqual([
      'AWS_BEARER_TOKEN_BEDROCK: cannot be combined with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: set one way to sign in',
    ])
    expect(issuesOf({ AWS_REGION: 'mars-1', AWS_BEARER_TOKEN_BEDROCK: 'k' })).toEqual([
      'AWS_REGION: must be an AWS Region such as us-east-1',
    ])
  })

  it('should return no credentials while any issue stands', () => {
    expect(
      operatorCredentials({ AWS_REGION: 'bad', AWS_BEARER_TOKEN_BEDROCK: 'k' }).credentials,
    ).toBeUndefined()
  })
})
