/** A parsed HTTP response of the service: status, headers and the JSON body (null when there is none). */
export interface JsonResponse {
  status: number;
  headers: Headers;
  json: any;
}

/** Sends a request to the service and parses the JSON response. Every request times out after 30 s. */
export async function request(url: string, init: RequestInit & { apiKey?: string } = {}): Promise<JsonResponse> {
  const headers = new Headers(init.headers);
  if (init.apiKey) headers.set('Authorization', `Bearer ${init.apiKey}`);
  const response = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text.length > 0 ? JSON.parse(text) : null };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `intervalMs` until it returns a truthy value; fails after `timeoutMs` or `maxTries` tries. */
export async function waitFor<T>(description: string, check: () => Promise<T | null | undefined | false>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const maxTries = Math.ceil(timeoutMs / intervalMs) + 1;
  const deadline = Date.now() + timeoutMs;
  for (let tries = 1; ; tries += 1) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline || tries >= maxTries) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await sleep(intervalMs);
  }
}

/** Creates a job, uploads `image` to its upload URL and returns the job id. */
export async function submitImage(baseUrl: string, apiKey: string, image: Uint8Array, tasks?: string[]): Promise<string> {
  const created = await request(`${baseUrl}/v1/jobs`, {
    method: 'POST',
    apiKey,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(tasks ? { tasks } : {}),
  });
  if (created.status !== 201) throw new Error(`POST /v1/jobs returned ${created.status}: ${JSON.stringify(created.json)}`);

  const uploaded = await request(created.json.upload.url, { method: 'PUT', body: image as Uint8Array<ArrayBuffer> });
  if (uploaded.status !== 200) throw new Error(`upload returned ${uploaded.status}: ${JSON.stringify(uploaded.json)}`);
  return created.json.id as string;
}

/** Polls a job until it reaches one of `states` and returns its view. */
export function waitForJob(baseUrl: string, apiKey: string, jobId: string, states: string[], timeoutMs = 30_000): Promise<any> {
  return waitFor(
    `job ${jobId} to reach ${states.join(' or ')}`,
    async () => {
      const response = await request(`${baseUrl}/v1/jobs/${jobId}`, { apiKey });
      return response.status === 200 && states.includes(response.json.status) ? response.json : null;
    },
    { timeoutMs },
  );
}
