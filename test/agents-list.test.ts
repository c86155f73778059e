/**
 * `GET /v1/agents` (what `vigil agents` shows) on the run's Temporal server: an agent whose registration
 * workflow does not answer its query is listed as unknown with the reason, never left out.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorStore } from '../intake/operators.js';
import { registerResponseRoutes } from '../intake/response.js';
import { AGENT_WORKFLOW } from '../src/contracts/agent.js';
import { testClient, uniqueQueue } from './helpers/temporal.js';

let client: Client;
let closeClient: () => Promise<void>;
let app: FastifyInstance;
let operators: OperatorStore;
let token: string;
let dir: string;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  dir = mkdtempSync(join(tmpdir(), 'vigil-agents-'));
  operators = new OperatorStore(join(dir, 'intake.db'));
  token = operators.add('ana-1', 'analyst').token;
  app = Fastify();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  registerResponseRoutes(app, {
    operators,
    connection: client.connection,
    namespace: client.options.namespace,
    taskQueue: uniqueQueue('agents-list'),
    budget: { limit: 20, windowSeconds: 3600 },
    updateTimeoutMs: 1500,
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  operators?.close();
  await closeClient?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /v1/agents', () => {
  it('lists an agent whose registration does not answer as unknown, with why', async () => {
    // A registration workflow no worker runs: its query cannot be answered.
    const host = `silent-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start(AGENT_WORKFLOW, {
      workflowId: `agent-${host}`,
      taskQueue: uniqueQueue('nobody-polls'),
      args: [],
    });
    try {
      expect((await app.inject({ method: 'GET', url: '/v1/agents' })).statusCode).toBe(401);
      let row: Record<string, unknown> | undefined;
      const deadline = Date.now() + 20_000;
      while (!row && Date.now() < deadline) {
        const r = await app.inject({
          method: 'GET',
          url: '/v1/agents',
          headers: { authorization: `Bearer ${token}` },
        });
        expect(r.statusCode).toBe(200);
        row = r.json<{ agents: Record<string, unknown>[] }>().agents.find((a) => a.hostId === host);
        if (!row) await new Promise((ok) => setTimeout(ok, 250)); // visibility catches up
      }
      expect(row).toMatchObject({ hostId: host, status: 'unknown', workflowStatus: 'RUNNING' });
      expect(String(row?.error)).toMatch(/^its registration did not answer: /);
    } finally {
      await handle.terminate('test over');
    }
  }, 40_000);
});
