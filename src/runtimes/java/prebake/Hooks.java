package prebake;

import java.util.ArrayList;
import java.util.List;

/**
 * Lifecycle hooks for Java functions run by prebake. Register them from anywhere, typically the handler's
 * constructor or a static initializer:
 *
 * <pre>
 *   Hooks.beforeCheckpoint(() -> pool.close());   // once, before the snapshot is taken
 *   Hooks.afterRestore(() -> pool.open());        // in every clone restored from it, after reseeding
 * </pre>
 *
 * Hooks run in the order they were registered, on the shim's main thread. A hook that throws fails the build
 * (beforeCheckpoint) or the invocation that restored the clone (afterRestore). See Reseed for which random
 * generators prebake reseeds in a clone before the afterRestore hooks run, and which it cannot reach.
 */
public final class Hooks {
  /** A hook: a Runnable that may throw. */
  @FunctionalInterface
  public interface Hook {
    void run() throws Exception;
  }

  private static final List<Hook> BEFORE_CHECKPOINT = new ArrayList<>();
  private static final List<Hook> AFTER_RESTORE = new ArrayList<>();

  private Hooks() {}

  public static synchronized void beforeCheckpoint(Hook hook) {
    BEFORE_CHECKPOINT.add(requireHook(hook));
  }

  public static synchronized void afterRestore(Hook hook) {
    AFTER_RESTORE.add(requireHook(hook));
  }

  static void runBeforeCheckpoint() throws Exception {
    run(BEFORE_CHECKPOINT);
  }

  static void runAfterRestore() throws Exception {
    run(AFTER_RESTORE);
  }

  private static void run(List<Hook> hooks) throws Exception {
    List<Hook> snapshot;
    synchronized (Hooks.class) {
      snapshot = new ArrayList<>(hooks);
    }
    for (Hook hook : snapshot) hook.run();
  }

  private static Hook requireHook(Hook hook) {
    if (hook == null) throw new NullPointerException("hook");
    return hook;
  }
}
