// A graceful shutdown with a bound: stop taking requests and let in-flight ones finish, for at most
// `timeoutMs`; then end every instance (the invocations still running fail fast) so that closing completes.
import type { FastifyInstance } from 'fastify';

export async function closeGracefully(app: FastifyInstance, timeoutMs: number): Promise<{ forced: boolean }> {
  let forced = false;
  const timer = setTimeout(() => {
    forced = true;
    app.log.warn({ timeoutMs }, 'in-flight requests did not finish in time; ending their instances');
    void app.host.shutdown();
  }, timeoutMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
  return { forced };
}
