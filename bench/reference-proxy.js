/**
 * @module The least a gateway Worker can do, as a yardstick for bench/run.ts: check the key, read
 * the model to pick the provider (which needs the JSON body), forward, and stream the answer back.
 * Served under the same workerd and config as the gateway, it shows how much of the gateway's
 * measured cost is the platform's floor on this machine (one more process hop, one subrequest)
 * and how much is the gateway's own work. Plain JS so it runs without a build.
 */
/* global URL, Headers, Response, fetch -- the Workers runtime's globals */
export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    if (url.pathname === '/healthz') return new Response('ok')
    if (request.headers.get('authorization') !== `Bearer ${env.BENCH_KEY}`) {
      return Response.json({ error: { message: 'unauthorized' } }, { status: 401 })
    }
    const body = await request.json()
    body.model = String(body.model).replace(/^openai\//, '')
    const headers = new Headers(request.headers)
    headers.set('authorization', `Bearer ${env.OPENAI_API_KEY}`)
    headers.delete('content-length')
    const upstream = await fetch(`${env.OPENAI_BASE_URL}${url.pathname.replace(/^\/v1/, '')}`, {
      method: request.method,
      headers,
      body: JSON.stringify(body),
    })
    return new Response(upstream.body, {
      status: upstream.status,
      headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' },
    })
  },
}
