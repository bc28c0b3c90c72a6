/**
 * @module A throwaway `redis-server` for the test suites: started on a free loopback port with
 * persistence off (`--save '' --appendonly no`), ready once it answers `PING`, killed on `close()`.
 * The binary must be on `PATH`; install it with `apt-get update && apt-get install -y redis-server`.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { connect } from 'node:net'
import { delimiter, join } from 'node:path'
import { freePort } from './net.ts'

/** A running `redis-server`. */
export interface RedisServer {
  port: number
  /** `redis://127.0.0.1:<port>` */
  url: string
  /** Kills the server and waits for it to exit. */
  close(): Promise<void>
}

const INSTALL = 'apt-get update && apt-get install -y redis-server'
const READY_TIMEOUT_MS = 10_000

function findBinary(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

/** Sends one inline `PING`; resolves true on `+PONG`. */
async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => {
      done(false)
    })
    socket.once('error', () => {
      done(false)
    })
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8')
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}

/** Starts `redis-server` on a free loopback port and waits until it answers `PING`. */
export async function startRedis(): Promise<RedisServer> {
  const binary = findBinary('redis-server')
  if (binary === undefined) {
    throw new Error(`redis-server is not on PATH; install it with \`${INSTALL}\``)
  }
  const port = await freePort()
  const child = spawn(
    binary,
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4000)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve()
    }),
  )
  let spawnError: Error | undefined
  child.once('error', (error) => (spawnError = error))

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (!(await ping(port))) {
    if (spawnError !== undefined || child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      const reason = spawnError?.message ?? `exit code ${String(child.exitCode)}`
      throw new Error(`redis-server did not become ready on port ${port} (${reason}):\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}
