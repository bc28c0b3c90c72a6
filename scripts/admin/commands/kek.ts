/**
 * @module `kek generate`: a vault keyring with a new current key-encryption key. The one command
 * that prints key material, because its output is the secret to install; notes go to stderr so
 * `> keyring.json` captures the keyring alone.
 */
import { parseCommand } from '../cli.ts'
import { KEYRING_VAR, keyringWithNewKek } from '../keyring.ts'
import { keyringText, type Command, type Group } from '../session.ts'

const generate: Command = {
  name: 'generate',
  synopsis: '[--id ID]',
  summary: 'print a FLOOPY_VAULT_KEKS keyring with a new current KEK',
  help: `Prints a ${KEYRING_VAR} keyring as one line of JSON. When a keyring is set (${KEYRING_VAR}
in the environment, or with the local store in .dev.vars), its keys are kept and a new one is
added and made current; otherwise the keyring is new. Nothing is stored: install the output as
the gateway's ${KEYRING_VAR} secret, then run \`provider-key rotate\` with it.

The output is secret: redirect it to a private file rather than to the terminal's scrollback.

Options:
  --id ID    the new key's id (1-32 of A-Z a-z 0-9 _ -; default: the next free k<N>)`,
  run: async (ctx, args) => {
    const command = 'kek generate'
    const { values, globals } = parseCommand(command, args, { id: { type: 'string' } }, [])
    const existing = await keyringText(ctx, globals, command)
    const text = keyringWithNewKek(existing, values.id)
    const current = (JSON.parse(text) as { current: string }).current
    ctx.io.out(text)
    ctx.io.note(
      existing === undefined
        ? `A new keyring with KEK ${current}.`
        : `The keyring from ${existing.source} plus a new current KEK ${current}. ` +
            'Install it where the gateway reads it, then run `provider-key rotate` with it.',
    )
  },
}

export const kekCommands: Group = {
  name: 'kek',
  summary: 'vault key-encryption keys: generate',
  commands: [generate],
}
