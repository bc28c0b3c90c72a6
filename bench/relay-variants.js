/**
 * @module Bare ways for a Worker to relay a streamed answer, for bench/relay-variants.ts: which of
 * them keep workerd's memory flat in the answer's size, and when each notices that the client left.
 * No SSE parsing and no translation: only how the bytes reach the client (`tee…` variants: a
 * native branch to the client and script reading the other, as the gateway reads large JSON;
 * `gather…`: script writing the client every byte it reads from one branch while a digest pulls
 * the other). The variant is the `x-variant` header (or the `VARIANT` binding). Plain JS so it
 * runs without a build.
 */
/* global AbortController, AbortSignal, crypto, TextDecoder, TransformStream, WritableStream, clearTimeout, Headers, IdentityTransformStream, ReadableStream, Response, gc, TextEncoder, URL, console, fetch, setTimeout -- the Workers runtime's globals */
/** Read buffers kept between streams (`listenp<ms>`). */
const spareBuffers = []

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === '/healthz') return new Response('ok')
    const variant = request.headers.get('x-variant') ?? env.VARIANT
    const started = Date.now()
    const log = (message) =>
      console.log(`[variant] ${variant} ${message} at ${Date.now() - started}ms`)
    request.signal.addEventListener('abort', () => log('request.signal aborted'))
    if (variant === 'self-cancel') return selfCancel(log)
    if (variant.startsWith('json-')) return json(variant, request, env, ctx)
    const upstream = await fetch(`${env.OPENAI_BASE_URL}/chat/completions`, {
      method: 'POST',
      headers: new Headers({
        'content-type': 'application/json',
        'x-bench-bytes': request.headers.get('x-bench-bytes') ?? '1024',
        'x-bench-gap-ms': request.headers.get('x-bench-gap-ms') ?? '0',
        'x-bench-batch-bytes': request.headers.get('x-bench-batch-bytes') ?? '65536',
      }),
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    })
    const kib = (prefix) => Number(variant.slice(prefix.length)) * 1024
    if (variant === 'native') return new Response(upstream.body)
    if (variant === 'native-pipe') {
      const { readable, writable } = new IdentityTransformStream()
      ctx.waitUntil(upstream.body.pipeTo(writable).catch(() => undefined))
      return new Response(readable)
    }
    if (variant === 'pull') {
      const reader = upstream.body.getReader()
      return new Response(
        new ReadableStream({
          async pull(controller) {
            const read = await reader.read()
            if (read.done) controller.close()
            else controller.enqueue(read.value)
          },
          cancel(reason) {
            log('cancel')
            return reader.cancel(reason)
          },
        }),
      )
    }
    if (variant === 'bytes') {
      const reader = upstream.body.getReader({ mode: 'byob' })
      return new Response(
        new ReadableStream({
          type: 'bytes',
          autoAllocateChunkSize: 16384,
          async pull(controller) {
            const wanted = controller.byobRequest
            if (wanted === null) {
              log('no byobRequest')
              const read = await reader.read(new Uint8Array(16384))
              if (read.done) controller.close()
              else controller.enqueue(read.value)
              return
            }
            const read = await reader.read(wanted.view)
            if (read.done) {
              controller.close()
              wanted.respond(0)
            } else wanted.respondWithNewView(read.value)
          },
          cancel(reason) {
            log('cancel')
            return reader.cancel(reason)
          },
        }),
      )
    }
    if (variant.startsWith('reuse')) {
      // One buffer handed back and forth: each chunk enqueued is the read's own view, and the next
      // read (only once the consumer asks again: no queue) takes the buffer back, detaching it.
      let buffer = new Uint8Array(kib('reuse'))
      const reader = upstream.body.getReader({ mode: 'byob' })
      return new Response(
        new ReadableStream(
          {
            async pull(controller) {
              const read = await reader.read(buffer)
              if (read.done) controller.close()
              else {
                controller.enqueue(read.value)
                buffer = new Uint8Array(read.value.buffer)
              }
            },
            cancel(reason) {
              log('cancel')
              return reader.cancel(reason)
            },
          },
          { highWaterMark: 0 },
        ),
      )
    }
    if (variant.startsWith('fresh')) {
      const size = kib('fresh')
      const reader = upstream.body.getReader({ mode: 'byob' })
      return new Response(
        new ReadableStream({
          async pull(controller) {
            const read = await reader.read(new Uint8Array(size))
            if (read.done) controller.close()
            else controller.enqueue(read.value)
          },
        }),
      )
    }
    if (variant === 'tee-default') {
      // The other branch read with a default reader: each chunk as the tee shares it.
      const [client, tapped] = upstream.body.tee()
      const reader = tapped.getReader()
      ctx.waitUntil(
        (async () => {
          for (;;) if ((await reader.read()).done) return
        })(),
      )
      return new Response(client)
    }
    if (variant.startsWith('listen')) {
      // The gateway's hand-off from the start: the client's branch of a tee piped natively into
      // an IdentityTransformStream the script closes; the other branch read BYOB into 256 KiB,
      // pausing `listen<ms>` between reads that do not fill it.
      // `listena<ms>`: pauses only after a read under 64 KiB (a backlog is read again at once).
      // `listend<ms>`: the client's branch is the response's body itself, with no stream between.
      // `listenp<ms>`: the listener's buffer is kept for the next stream instead of made anew.
      // `listens<ms>`: the tee's branches the other way round (the listener's first).
      const prefix = /^listen[adps]?/.exec(variant)[0]
      const adaptive = prefix === 'listena'
      const direct = prefix === 'listend'
      const pooled = prefix === 'listenp'
      const swapped = prefix === 'listens'
      const pauseMs = Number(variant.slice(prefix.length) || '10')
      const small = adaptive ? 64 * 1024 : 256 * 1024
      const { readable, writable } = new IdentityTransformStream()
      const branches = upstream.body.tee()
      const [client, heard] = swapped ? [branches[1], branches[0]] : branches
      const reader = heard.getReader({ mode: 'byob' })
      let reads = 0
      const listened = (async () => {
        let buffer = (pooled ? spareBuffers.pop() : undefined) ?? new ArrayBuffer(256 * 1024)
        for (;;) {
          const { done, value } = await reader.read(new Uint8Array(buffer))
          reads++
          if (done) {
            if (pooled && value !== undefined) spareBuffers.push(value.buffer)
            return
          }
          buffer = value.buffer
          if (value.byteLength < small && pauseMs > 0) {
            await new Promise((resolve) => setTimeout(resolve, pauseMs))
          }
        }
      })()
      if (direct) {
        ctx.waitUntil(listened.then(() => log(`reads ${reads}`)))
        return new Response(client)
      }
      ctx.waitUntil(
        client
          .pipeTo(writable, { preventClose: true, preventAbort: true })
          .then(() => listened)
          .then(async () => {
            log(`reads ${reads}`)
            await writable.getWriter().close()
          })
          .catch((err) => log(`failed: ${err}`)),
      )
      return new Response(readable)
    }
    if (variant.startsWith('gather')) {
      // A relay that still reads every byte in script (it may change events), in few reads: a
      // tee whose other branch is pumped natively into a digest (a sink that only keeps a hash),
      // so the runtime pulls the provider on while the script pauses `gather<ms>` between reads
      // that bring less than a sixteenth of its 256 KiB buffer (`gatherd<ms>`: each read also
      // decoded to text and split into events, as a translator would).
      const decoding = variant.startsWith('gatherd')
      const pauseMs = Number(variant.slice(decoding ? 'gatherd'.length : 'gather'.length) || '10')
      const size = 256 * 1024
      const { readable, writable } = new IdentityTransformStream()
      const writer = writable.getWriter()
      const [pulled, read] = upstream.body.tee()
      ctx.waitUntil(pulled.pipeTo(new crypto.DigestStream('MD5')).catch(() => undefined))
      const reader = read.getReader({ mode: 'byob' })
      const decoder = new TextDecoder()
      ctx.waitUntil(
        (async () => {
          let buffer = new ArrayBuffer(size)
          let reads = 0
          let events = 0
          try {
            for (;;) {
              const { done, value } = await reader.read(new Uint8Array(buffer))
              if (done) break
              reads++
              if (decoding) events += decoder.decode(value, { stream: true }).split('\n\n').length
              await writer.write(value)
              buffer = value.buffer
              if (value.byteLength < size / 16 && pauseMs > 0) {
                await new Promise((resolve) => setTimeout(resolve, pauseMs))
              }
            }
            await writer.close()
            log(`reads ${reads}, events ${events}`)
          } catch (err) {
            log(`failed: ${err}`)
            reader.cancel().catch(() => undefined)
          }
        })(),
      )
      return new Response(readable)
    }
    if (variant.startsWith('tee')) {
      const piped = variant.startsWith('tee-pipe')
      const atLeast = piped || variant.startsWith('tee-full')
      const size = kib(piped ? 'tee-pipe' : atLeast ? 'tee-full' : 'tee')
      const [client, tapped] = upstream.body.tee()
      const reader = tapped.getReader({ mode: 'byob' })
      ctx.waitUntil(
        (async () => {
          let buffer = new Uint8Array(size)
          for (;;) {
            // `readAtLeast` (workerd's own): a full buffer per read, so far fewer reads.
            const read = atLeast
              ? await reader.readAtLeast(size, buffer)
              : await reader.read(buffer)
            if (read.value !== undefined) buffer = new Uint8Array(read.value.buffer)
            if (read.done) return
          }
        })(),
      )
      if (!piped) return new Response(client)
      // The client's branch piped natively into a stream the script may still append to.
      const { readable, writable } = new IdentityTransformStream()
      ctx.waitUntil(
        client
          .pipeTo(writable, { preventClose: true })
          .then(async () => {
            const writer = writable.getWriter()
            await writer.write(new TextEncoder().encode(': tail\n\n'))
            await writer.close()
          })
          .catch(() => reader.cancel().catch(() => undefined)),
      )
      return new Response(readable)
    }
    if (variant === 'pipe-ts') {
      // The runtime's pipe drives a script TransformStream: script sees each chunk in `transform`
      // without a read of its own.
      let chunks = 0
      return new Response(
        upstream.body.pipeThrough(
          new TransformStream({
            transform(chunk, controller) {
              chunks++
              controller.enqueue(chunk)
            },
            flush() {
              log(`chunks ${chunks}`)
            },
          }),
        ),
      )
    }
    if (variant === 'pipe-ws') {
      // The runtime's pipe into a script WritableStream whose sink writes to a native writer.
      const { readable, writable } = new IdentityTransformStream()
      const writer = writable.getWriter()
      let chunks = 0
      ctx.waitUntil(
        upstream.body
          .pipeTo(
            new WritableStream({
              write(chunk) {
                chunks++
                return writer.write(chunk)
              },
              close() {
                log(`chunks ${chunks}`)
                return writer.close()
              },
            }),
          )
          .catch((err) => log(`pipe failed: ${err}`)),
      )
      return new Response(readable)
    }
    if (variant.startsWith('writer-full')) {
      // The writer of `writer<KiB>`, each read waiting for a full buffer (`readAtLeast`): few
      // reads, but a stream's events are held until a buffer's worth has come.
      const size = kib('writer-full')
      const { readable, writable } = new IdentityTransformStream()
      const writer = writable.getWriter()
      const reader = upstream.body.getReader({ mode: 'byob' })
      ctx.waitUntil(
        (async () => {
          let buffer = new Uint8Array(size)
          let reads = 0
          try {
            for (;;) {
              const read = await reader.readAtLeast(size, buffer)
              if (read.value !== undefined && read.value.byteLength > 0) {
                reads++
                await writer.write(read.value)
                buffer = new Uint8Array(read.value.buffer)
              }
              if (read.done) break
            }
            await writer.close()
            log(`reads ${reads}`)
          } catch (err) {
            log(`write failed: ${err}`)
            reader.cancel().catch(() => undefined)
          }
        })(),
      )
      return new Response(readable)
    }
    if (variant.startsWith('grow') || variant.startsWith('writer')) {
      // Writes into an IdentityTransformStream from one reused BYOB buffer: `writer<KiB>` of that
      // size throughout; `grow<KiB>` (the gateway's relay) from 16 KiB, doubled whenever a read
      // fills it, up to the size named.
      const growing = variant.startsWith('grow')
      const max = kib(growing ? 'grow' : 'writer')
      const { readable, writable } = new IdentityTransformStream()
      const writer = writable.getWriter()
      const reader = upstream.body.getReader({ mode: 'byob' })
      ctx.waitUntil(
        (async () => {
          let size = growing ? 16384 : max
          let buffer = new Uint8Array(size)
          let reads = 0
          let bytes = 0
          try {
            for (;;) {
              const read = await reader.read(buffer)
              if (read.done) break
              reads++
              bytes += read.value.byteLength
              await writer.write(read.value)
              if (read.value.byteLength >= size && size < max) {
                size *= 2
                buffer = new Uint8Array(size)
              } else buffer = new Uint8Array(read.value.buffer)
            }
            await writer.close()
            // Under `--expose-gc` (RELAY_V8_FLAGS): how much of the growth is garbage.
            if (typeof gc === 'function') gc()
            log(`reads ${reads}, ${Math.round(bytes / reads)} bytes each, buffer ${size}`)
          } catch (err) {
            log(`write failed: ${err}`)
            reader.cancel().catch(() => undefined)
          }
        })(),
      )
      return new Response(readable)
    }
    return new Response(`unknown variant ${variant}`, { status: 400 })
  },
}

/** Cancels an IdentityTransformStream's readable from inside the isolate: when does its writer
 * hear of it? */
async function selfCancel(log) {
  const { readable, writable } = new IdentityTransformStream()
  const writer = writable.getWriter()
  writer.closed.then(
    () => log('writer closed'),
    (err) => log(`writer.closed rejected: ${err}`),
  )
  const encoder = new TextEncoder()
  const first = writer.write(encoder.encode('x'))
  const reader = readable.getReader()
  await reader.read()
  await first
  log('cancelling the readable')
  await reader.cancel('client left')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  log(`writer.desiredSize ${writer.desiredSize}`)
  try {
    await writer.write(encoder.encode('y'))
    log('next write succeeded')
  } catch (err) {
    log(`next write failed: ${err}`)
  }
  return new Response('done')
}

/**
 * A non-streamed answer relayed three ways, for CPU per request under load (`node bench/ab.ts
 * json-buffer=bench/relay-variants.js,variant=json-buffer …`): read whole into an ArrayBuffer
 * (the gateway's way for answers of a declared size, to read `usage`), piped natively with its
 * other `tee()` branch read beside it, or piped natively with nothing read (the reference).
 */
async function json(variant, request, env, ctx) {
  // How the provider call's time limit is kept: none, a timer set and cleared around the call (as
  // the gateway does), or the runtime's `AbortSignal.timeout`.
  let timer
  let signal
  if (variant === 'json-timer') {
    const controller = new AbortController()
    signal = controller.signal
    timer = setTimeout(() => controller.abort(), 30000)
  } else if (variant === 'json-settimeout') {
    timer = setTimeout(() => undefined, 30000)
  } else if (variant === 'json-signal-timeout') signal = AbortSignal.timeout(30000)
  else if (variant === 'json-signal-headers') {
    // A time limit on the headers only: the runtime's timer signal aborts the call's own
    // controller unless the headers came first.
    const controller = new AbortController()
    signal = controller.signal
    const limit = AbortSignal.timeout(30000)
    limit.addEventListener('abort', () => {
      if (!answered) controller.abort(limit.reason)
    })
  }
  let answered = false
  const upstream = await fetch(`${env.OPENAI_BASE_URL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: await request.text(),
    signal,
  })
  clearTimeout(timer)
  answered = true
  const headers = { 'content-type': 'application/json' }
  if (variant === 'json-native') return new Response(upstream.body, { headers })
  if (variant === 'json-buffer' || /^json-(timer|settimeout|signal-)/.test(variant)) {
    const bytes = await upstream.arrayBuffer()
    return new Response(bytes, { headers })
  }
  if (variant.startsWith('json-busy-')) {
    // Work handed to waitUntil after the answer: does it delay the answer when it starts at once
    // (a microtask, as a resolved promise's continuation does) rather than after a timer?
    const bytes = await upstream.arrayBuffer()
    const work = () => {
      let h = 0
      for (let i = 0; i < 20000; i++) h = Math.imul(h ^ i, 0x01000193)
      return h
    }
    const delay = { 'json-busy-micro': -1, 'json-busy-timer0': 0, 'json-busy-timer1': 1 }[variant]
    ctx.waitUntil(
      delay < 0
        ? Promise.resolve().then(work)
        : new Promise((resolve) => setTimeout(resolve, delay)).then(work),
    )
    return new Response(bytes, { headers })
  }
  if (variant === 'json-tee') {
    const [client, tapped] = upstream.body.tee()
    const reader = tapped.getReader()
    ctx.waitUntil(
      (async () => {
        for (;;) if ((await reader.read()).done) return
      })(),
    )
    return new Response(client, { headers })
  }
  return new Response(`unknown variant ${variant}`, { status: 400 })
}
