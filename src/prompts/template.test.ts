/**
 * Prompt templates: the variables a template uses, strict one-pass rendering (every missing
 * variable named, values never expanded again, no escaping), the template schema, and which
 * version a selector picks.
 */
import { describe, expect, it } from 'vitest'
import {
  PromptTemplateSchema,
  renderTemplate,
  selectVersion,
  variablesOf,
  type PromptTemplate,
} from './template'

const template = (
  ...contents: PromptTemplate['messages'][number]['content'][]
): PromptTemplate => ({
  messages: contents.map((content) => ({ role: 'user' as const, content })),
})

describe('variablesOf', () => {
  it('should list each variable once, in order, from strings and text parts', () => {
    const t = template('Hi {{name}}, {{ name }} and {{city}}', [
      { type: 'text', text: 'in {{ country.code }}' },
      { type: 'image_url', image_url: { url: 'https://x/{{not_a_var}}.png' } },
    ])
    expect(variablesOf(t)).toEqual(['name', 'city', 'country.code'])
  })

  it('should ignore braces that do not hold a valid name', () => {
    expect(variablesOf(template('{{}} {{ 1x }} {{a b}} {name} {{{c}}}'))).toEqual(['c'])
  })
})

describe('renderTemplate', () => {
  it('should fill string content and text parts, leaving other parts alone', () => {
    const image = { type: 'image_url', image_url: { url: 'https://x/{{n}}.png' } }
    const rendered = renderTemplate(
      template('A {{n}}', [{ type: 'text', text: '{{ n }}!' }, image]),
      {
        n: 'x',
      },
    )
    expect(rendered).toEqual({
      ok: true,
      messages: [
        { role: 'user', content: 'A x' },
        { role: 'user', content: [{ type: 'text', text: 'x!' }, image] },
      ],
    })
  })

  it('should write numbers, booleans and null as JSON text, objects and arrays as compact JSON', () => {
    const rendered = renderTemplate(template('{{a}}|{{b}}|{{c}}|{{d}}|{{e}}|{{f}}'), {
      a: 42,
      b: 1.5e-7,
      c: true,
      d: null,
      e: { k: [1, 'two'] },
      f: ['x', { y: 'z' }],
    })
    expect(rendered).toEqual({
      ok: true,
      messages: [{ role: 'user', content: '42|1.5e-7|true|null|{"k":[1,"two"]}|["x",{"y":"z"}]' }],
    })
  })

  it('should never expand a value, nor escape it', () => {
    const rendered = renderTemplate(template('{{a}} {{b}}'), {
      a: '{{b}} <b>&amp;</b> $& $1',
      b: 'B',
    })
    expect(rendered).toEqual({
      ok: true,
      messages: [{ role: 'user', content: '{{b}} <b>&amp;</b> $& $1 B' }],
    })
  })

  it('should name every missing variable and render nothing', () => {
    expect(renderTemplate(template('{{a}} {{b}} {{c}} {{a}}'), { b: 1 })).toEqual({
      ok: false,
      missing: ['a', 'c'],
    })
  })

  it('should take an inherited name as missing, not as the prototype’s property', () => {
    expect(renderTemplate(template('{{toString}}'), {})).toEqual({
      ok: false,
      missing: ['toString'],
    })
  })

  it('should accept extra inputs the template does not use', () => {
    expect(renderTemplate(template('plain'), { unused: 'x' })).toEqual({
      ok: true,
      messages: [{ role: 'user', content: 'plain' }],
    })
  })

  it('should leave the template itself unchanged', () => {
    const t = template('{{a}}', [{ type: 'text', text: '{{a}}' }])
    const before = structuredClone(t)
    renderTemplate(t, { a: 'x' })
    expect(t).toEqual(before)
  })
})

describe('PromptTemplateSchema', () => {
  it('should accept messages with a model and parameters, tools and response_format included', () => {
    const parsed = PromptTemplateSchema.safeParse({
      messages: [{ role: 'system', content: 'You are {{role}}' }],
      model: 'openai/gpt-4o-mini',
      params: {
        temperature: 0.2,
        tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
        response_format: { type: 'json_object' },
      },
    })
    expect(parsed.success).toBe(true)
  })

  it.each([
    [{}, 'messages'],
    [{ messages: [] }, 'messages'],
    [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages.0.role'],
    [{ messages: [{ role: 'user', content: 1 }] }, 'messages.0.content'],
    [{ messages: [{ role: 'user', content: 'x' }], model: '' }, 'model'],
    [{ messages: [{ role: 'user', content: 'x' }], params: { stream: true } }, 'params'],
    [{ messages: [{ role: 'user', content: 'x' }], extra: 1 }, ''],
  ])('should refuse %j, naming %s', (value, path) => {
    const parsed = PromptTemplateSchema.safeParse(value)
    expect(parsed.success).toBe(false)
    expect(parsed.error?.issues[0]?.path.join('.')).toBe(path)
  })
})

describe('selectVersion', () => {
  const versions = [1, 2, 3, 4]
  it.each<[Record<string, number>, string | undefined, number | undefined]>([
    [{}, undefined, 4],
    [{ production: 2 }, undefined, 2],
    [{ production: 9 }, undefined, 4],
    [{ production: 2 }, '3', 3],
    [{ production: 2 }, '7', undefined],
    [{ production: 2, staging: 3 }, 'staging', 3],
    [{ production: 2 }, 'staging', undefined],
    [{ production: 2 }, 'production', 2],
  ])('with labels %j, %s should pick version %s', (labels, selector, expected) => {
    expect(selectVersion(versions, labels, selector)).toBe(expected)
  })

  it('should find nothing in a prompt without versions', () => {
    expect(selectVersion([], {}, undefined)).toBeUndefined()
  })
})
