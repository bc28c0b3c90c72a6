/**
 * @module `cache purge`: deletes an organisation's cached responses where the gateways share
 * them, in Redis (Upstash) and in Qdrant (`../cache-purge.ts`). The clients are imported only
 * when this command runs.
 */
import type { QdrantPurge } from '../cache-purge.ts'
import { CliError, parseCommand } from '../cli.ts'
import { fields, json } from '../output.ts'
import { openSession, type Command, type Group } from '../session.ts'
import * as valid from '../validate.ts'

const QDRANT_TIMEOUT_MS = 10_000

const present = (value: string | undefined): value is string => value !== undefined && value !== ''

/** An https URL, or one on the loopback interface; a malformed URL is left to the client. */
const safeForKey = (url: string): boolean => {
  if (!URL.canParse(url)) return true
  const { protocol, hostname } = new URL(url)
  return protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(hostname)
}

const LOCAL_MEMORY =
  '`npm run dev` without Upstash keeps its cache in its own memory; a restart empties it'

const purge: Command = {
  name: 'purge',
  synopsis: '<org> [--namespace NS] [--json]',
  summary: "delete an organization's cached responses (Redis and Qdrant)",
  help: `Deletes the organization's cached responses, of every namespace or of one, where the
gateways share them: every key under floopy:cache:<org id>:<namespace>: in Redis (walked with
SCAN and removed with UNLINK, in batches) and the organization's points in every floopy_cache_*
collection of Qdrant. Prints how many keys and points were removed.

Redis is the one UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name; Qdrant is QDRANT_URL,
with QDRANT_API_KEY when it requires one. Either one not set is skipped with a warning; neither
set is an error, except with the local store, where there is nothing shared to purge:
${LOCAL_MEMORY}.

Options:
  --namespace NS    only this namespace (a request's floopy-cache-namespace, e.g. default)
  --json            print {org_id, org, namespace, redis, qdrant} as JSON; a store skipped is
                    null`,
  run: async (ctx, args) => {
    const command = 'cache purge'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      { namespace: { type: 'string' }, json: { type: 'boolean' } },
      ['<org>'],
    )
    const ref = valid.orgRef(positionals[0] ?? '')
    const namespace =
      values.namespace === undefined ? undefined : valid.cacheNamespace(values.namespace)
    const { io } = ctx
    const { store } = await openSession(ctx, globals, command)
    const org = await store.getOrg(ref)
    const [{ reasonOf, UPSTASH_VARS, upstashFromEnv }, purging] = await Promise.all([
      import('../upstash.ts'),
      import('../cache-purge.ts'),
    ])
    const redis = upstashFromEnv(io.env)
    const qdrantUrl = io.env.QDRANT_URL
    const local = store.kind === 'local'
    const scope = namespace === undefined ? 'every namespace' : `namespace ${namespace}`

    if (redis === undefined && !present(qdrantUrl)) {
      if (!local) {
        throw new CliError(
          `nothing purged: neither ${UPSTASH_VARS} nor QDRANT_URL is set (the stores the gateways share)`,
        )
      }
      if (values.json === true) {
        io.out(
          json({
            org_id: org.id,
            org: org.slug,
            namespace: namespace ?? null,
            redis: null,
            qdrant: null,
          }),
        )
      } else {
        io.out(`Nothing shared to purge for ${org.slug}: ${LOCAL_MEMORY}.`)
      }
      return
    }
    if (redis === undefined) {
      io.note(
        local
          ? `${UPSTASH_VARS} are not set: nothing shared in Redis (${LOCAL_MEMORY}).`
          : `warning: ${UPSTASH_VARS} are not set: the cache in Redis was NOT purged.`,
      )
    }
    if (!present(qdrantUrl)) io.note('warning: QDRANT_URL is not set: Qdrant was NOT purged.')

    const failures: string[] = []
    let keysRemoved: number | undefined
    if (redis !== undefined) {
      try {
        keysRemoved = await purging.purgeRedis(redis, org.id, namespace)
      } catch (error) {
        failures.push(`Redis: ${reasonOf(error)}`)
      }
    }
    let points: QdrantPurge | undefined
    if (present(qdrantUrl)) {
      try {
        const { QdrantClient } = await import('@qdrant/js-client-rest')
        const apiKey = io.env.QDRANT_API_KEY
        // Sent as the client would send `apiKey` (its `api-key` header), without the console
        // warning it prints for plain http; the CLI warns in its own words, and not for loopback.
        if (present(apiKey) && !safeForKey(qdrantUrl)) {
          io.note(`warning: QDRANT_API_KEY is sent over plain http to ${new URL(qdrantUrl).host}`)
        }
        const client = new QdrantClient({
          url: qdrantUrl,
          ...(present(apiKey) ? { headers: { 'api-key': apiKey } } : {}),
          checkCompatibility: false,
          timeout: QDRANT_TIMEOUT_MS,
        })
        points = await purging.purgeQdrant(client, org.id, namespace)
      } catch (error) {
        failures.push(`Qdrant: ${purging.qdrantReason(error)}`)
      }
    }

    const done = [
      ...(keysRemoved === undefined ? [] : [`Redis: ${String(keysRemoved)} keys removed`]),
      ...(points === undefined ? [] : [`Qdrant: ${String(points.points)} points removed`]),
    ]
    if (failures.length > 0) {
      throw new CliError(
        `the cache of ${org.slug} was not fully purged: ${failures.join('; ')}` +
          (done.length === 0 ? '' : ` (${done.join(', ')})`),
      )
    }
    if (values.json === true) {
      io.out(
        json({
          org_id: org.id,
          org: org.slug,
          namespace: namespace ?? null,
          redis: keysRemoved === undefined ? null : { keys_removed: keysRemoved },
          qdrant:
            points === undefined
              ? null
              : { points_removed: points.points, collections: points.collections },
        }),
      )
      return
    }
    const collections = points === undefined ? 0 : Object.keys(points.collections).length
    io.out(
      `Purged the cache of ${org.slug} (${scope}).\n` +
        fields([
          ['redis', keysRemoved === undefined ? 'skipped' : `${String(keysRemoved)} keys removed`],
          [
            'qdrant',
            points === undefined
              ? 'skipped'
              : `${String(points.points)} points removed (${String(collections)} cache collections)`,
          ],
        ]),
    )
  },
}

export const cacheCommands: Group = {
  name: 'cache',
  summary: 'the response cache: purge',
  commands: [purge],
}
