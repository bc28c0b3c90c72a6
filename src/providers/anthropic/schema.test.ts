import { describe, expect, it } from 'vitest'
import { anthropicSchema } from './schema'

describe('anthropicSchema', () => {
  it('should close objects, keep the supported subset, and write the rest into descriptions', () => {
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 2, description: 'The name' },
        age: { type: 'integer', minimum: 0, maximum: 150 },
        email: { type: 'string', format: 'email' },
        code: { type: 'string', format: 'binary' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 5 },
        many: { type: 'array', items: { type: 'number' }, minItems: 3 },
        kind: { oneOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] },
      },
      required: ['name'],
      additionalProperties: true,
    }
    expect(anthropicSchema(schema)).toEqual({
      type: 'object',
      description: '{$schema: "http://json-schema.org/draft-07/schema#"}',
      properties: {
        name: { type: 'string', description: 'The name\n\n{minLength: 2}' },
        age: { type: 'integer', description: '{minimum: 0, maximum: 150}' },
        email: { type: 'string', format: 'email' },
        code: { type: 'string', description: '{format: "binary"}' },
        tags: {
          type: 'array',
          items: { type: 'string' },
          minItems: 1,
          description: '{maxItems: 5}',
        },
        many: { type: 'array', items: { type: 'number' }, description: '{minItems: 3}' },
        kind: { anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] },
      },
      additionalProperties: false,
      required: ['name'],
    })
  })

  it('should keep references and adapt definitions, leaving the input unchanged', () => {
    const schema = {
      type: 'object',
      properties: { node: { $ref: '#/$defs/node', description: 'ignored beside a ref' } },
      $defs: { node: { type: 'object', properties: { v: { type: 'number', multipleOf: 2 } } } },
    }
    const copy = structuredClone(schema)
    expect(anthropicSchema(schema)).toEqual({
      $defs: {
        node: {
          type: 'object',
          properties: { v: { type: 'number', description: '{multipleOf: 2}' } },
          additionalProperties: false,
        },
      },
      type: 'object',
      properties: { node: { $ref: '#/$defs/node' } },
      additionalProperties: false,
    })
    expect(schema).toEqual(copy)
  })
})
