package prebake;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.time.Duration;
import java.time.Instant;

/**
 * Closes the idle connections of every {@code java.net.http.HttpClient} before the snapshot. The client
 * keeps an HTTP/1.1 connection open for reuse after a response, in a pool inside the JDK that a function
 * cannot reach (JDK 17 has no {@code HttpClient.close()}), and criu cannot dump a TCP connection into a
 * clone. Each client runs one selector thread ({@code HttpClientImpl$SelectorManager}) holding its pool;
 * the pool's own expiry purge, asked to purge as of a time past every connection's expiry, removes and
 * closes them all. The client opens a fresh connection on its next request, in each clone. Reaching the
 * JDK's internals needs {@code --add-opens java.net.http/jdk.internal.net.http} (adapter.ts). Not covered:
 * HTTP/2 connections (kept elsewhere), and any JDK whose internals differ: then nothing is closed and the
 * dump says which connection is open.
 */
final class HttpConnections {
  private static final String SELECTOR_MANAGER = "jdk.internal.net.http.HttpClientImpl$SelectorManager";

  private HttpConnections() {}

  /** Closes every idle pooled connection of every live HttpClient; returns how many clients it reached. */
  static int closeIdle() {
    int reached = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (!thread.getClass().getName().equals(SELECTOR_MANAGER)) continue;
      try {
        Field poolField = thread.getClass().getDeclaredField("pool");
        poolField.setAccessible(true);
        Object pool = poolField.get(thread);
        Method purge = pool.getClass().getDeclaredMethod("purgeExpiredConnectionsAndReturnNextDeadline", Instant.class);
        purge.setAccessible(true);
        // Past every expiry (now + the keep-alive, 20 minutes by default); Instant.MAX overflows the
        // pool's next-deadline arithmetic.
        purge.invoke(pool, Instant.now().plus(Duration.ofDays(365 * 100)));
        reached++;
      } catch (ReflectiveOperationException | RuntimeException e) {
        // Another JDK's internals: leave the connections; the dump names what stays open.
      }
    }
    return reached;
  }
}
