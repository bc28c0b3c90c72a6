/**
 * @module The walk over OpenAI's chat roles that the families with a system prompt apart from
 * alternating user and assistant turns share (Anthropic's Messages, Bedrock's Converse). The
 * family spells each part; the walk decides where it goes:
 *
 * - `system` and `developer` messages, wherever they appear, go to the system prompt, in order;
 * - `user` content and `tool` results go to user turns, `assistant` content to assistant turns
 *   (an assistant message with nothing to say is left out), consecutive turns of one role merged
 *   by the family's `push`;
 * - the deprecated `function` role is refused (send `tool` messages), as is any other role, and a
 *   conversation with no user or assistant turn.
 *
 * Errors are 400s naming the message (`messages.<i>…` in `param`).
 */
import { invalid, isRecord, unsupported, type Json } from './fields'

export type TurnRole = 'user' | 'assistant'

/** How one family spells a conversation's parts (`S`: a system block; `C`: a turn's content). */
export type TurnSpelling<S, C extends { readonly length: number }, T> = {
  /** The family as errors name it ("Anthropic models", "Bedrock"). */
  readonly family: string
  /** Text-only content (system, developer): a string or text parts. */
  readonly system: (content: unknown, at: string) => S[]
  readonly user: (content: unknown, at: string) => C
  /** An assistant message's content: its text, refusal and tool calls. */
  readonly assistant: (message: Json, at: string) => C
  /** A `tool` message as a user turn's content. */
  readonly toolResult: (message: Json, at: string) => C
  /** Appends a turn to `turns`, merging it into the last one when the role repeats. */
  readonly push: (turns: T[], role: TurnRole, content: C) => void
}

export const walkTurns = <S, C extends { readonly length: number }, T>(
  raw: unknown,
  spelling: TurnSpelling<S, C, T>,
): { system: S[]; turns: T[] } => {
  if (!Array.isArray(raw)) throw invalid(`'messages' must be an array.`, 'messages')
  const system: S[] = []
  const turns: T[] = []
  raw.forEach((message: unknown, i) => {
    const at = `messages.${i}`
    if (!isRecord(message)) throw invalid(`'${at}' must be an object.`, at)
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...spelling.system(message.content, `${at}.content`))
        return
      case 'user':
        spelling.push(turns, 'user', spelling.user(message.content, `${at}.content`))
        return
      case 'assistant': {
        const content = spelling.assistant(message, at)
        if (content.length > 0) spelling.push(turns, 'assistant', content)
        return
      }
      case 'tool':
        spelling.push(turns, 'user', spelling.toolResult(message, at))
        return
      case 'function':
        throw unsupported(
          `'${at}': the deprecated 'function' role is not translated for ${spelling.family}; ` +
            `send 'tool' messages.`,
          `${at}.role`,
        )
      default:
        throw invalid(
          `'${at}.role' must be system, developer, user, assistant or tool.`,
          `${at}.role`,
        )
    }
  })
  if (turns.length === 0) {
    throw invalid(
      `${spelling.family}: the messages need at least one user or assistant message besides ` +
        'system messages.',
      'messages',
    )
  }
  return { system, turns }
}
