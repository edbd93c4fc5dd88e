package prebake;

import java.io.FileInputStream;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reseeds the JDK's shared random generators in a restored clone. Clones restored from one snapshot share
 * every byte of memory, so a generator seeded before the snapshot yields the same numbers in every clone.
 *
 * <p>Reseeded on resume, from 32 fresh bytes of /dev/urandom mixed with the controller's seed:
 * <ul>
 *   <li>{@code Math.random()}: its static Random ({@code Math.RandomNumberGeneratorHolder}), setSeed(long).
 *   <li>{@code ThreadLocalRandom}: the seed (and secondary seed) of every live thread, and the static seeder
 *       that threads started later draw their seeds from.
 *   <li>{@code new Random()} and {@code new SplittableRandom()} made after the restore: their static seed
 *       sources ({@code Random.seedUniquifier}, {@code SplittableRandom.defaultGen}). Without this, every
 *       clone's first {@code new SplittableRandom()} would be the same generator, and {@code new Random()}
 *       would differ between clones only by System.nanoTime().
 *   <li>{@code Collections.shuffle(list)}: its static Random, when it exists.
 *   <li>{@code UUID.randomUUID()}: its static SecureRandom, setSeed(bytes) (which adds to the seed).
 *   <li>{@code new SecureRandom()} (NativePRNG, the Linux default) and the NativePRNGBlocking and
 *       NativePRNGNonBlocking variants: all instances of a variant share one SHA1PRNG mixing state, which
 *       setSeed on any instance reseeds. Their output is also XORed with fresh kernel bytes (the JDK reads
 *       /dev/urandom again when its 32-byte buffer is older than 100 ms), so they differ between clones
 *       even without this.
 * </ul>
 * NOT reachable, so every clone repeats them: {@code java.util.Random} and {@code SplittableRandom}
 * instances the function created before the snapshot; SecureRandom instances of other algorithms
 * (SHA1PRNG, DRBG) created before the snapshot; generators in third-party libraries. Reseed those in a
 * {@link Hooks#afterRestore} hook, or create them per invocation. Object.hashCode() values (per-thread
 * xorshift state in the VM) also repeat; they are not meant to be random.
 *
 * <p>Reaching the JDK's private fields needs {@code --add-opens java.base/java.lang=ALL-UNNAMED},
 * {@code java.base/java.util} and {@code java.base/java.util.concurrent} (the java adapter passes them). A
 * generator that cannot be reached (another JDK's field names, missing flags) is named on stderr; the
 * others are still reseeded.
 */
final class Reseed {
  private static final String[] NATIVE_PRNG_VARIANTS = {"NativePRNG", "NativePRNGBlocking", "NativePRNGNonBlocking"};

  private static boolean prepared;
  private static final List<String> problems = new ArrayList<>();
  private static Random mathRandom;
  private static AtomicLong randomSeedUniquifier;
  private static AtomicLong splittableDefaultGen;
  private static Field collectionsRandom;
  private static AtomicLong threadLocalSeeder;
  private static Field threadSeed;
  private static Field threadSecondarySeed;
  private static final List<SecureRandom> secureRandoms = new ArrayList<>();

  private Reseed() {}

  /**
   * Finds the generators, then reseeds them once, so that every class and reflection accessor that reseeding
   * needs is loaded before the snapshot and a clone's resume only sets seeds (reseeding the original before
   * its snapshot costs nothing: the clones reseed again). The shim calls it at checkpoint.
   */
  static synchronized void prepare() throws IOException {
    if (prepared) return;
    prepared = true;
    findGenerators();
    reseed(urandom(32));
  }

  private static void findGenerators() {
    try {
      mathRandom = (Random) staticField("java.lang.Math$RandomNumberGeneratorHolder", "randomNumberGenerator").get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      unreachable("Math.random()", e);
    }
    try {
      randomSeedUniquifier = (AtomicLong) staticField("java.util.Random", "seedUniquifier").get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      unreachable("new Random()", e);
    }
    try {
      splittableDefaultGen = (AtomicLong) staticField("java.util.SplittableRandom", "defaultGen").get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      unreachable("new SplittableRandom()", e);
    }
    try {
      collectionsRandom = staticField("java.util.Collections", "r");
    } catch (ReflectiveOperationException | RuntimeException e) {
      unreachable("Collections.shuffle(list)", e);
    }
    try {
      threadLocalSeeder = (AtomicLong) staticField("java.util.concurrent.ThreadLocalRandom", "seeder").get(null);
      threadSeed = accessible(Thread.class.getDeclaredField("threadLocalRandomSeed"));
      threadSecondarySeed = accessible(Thread.class.getDeclaredField("threadLocalRandomSecondarySeed"));
    } catch (ReflectiveOperationException | RuntimeException e) {
      threadLocalSeeder = null;
      unreachable("ThreadLocalRandom", e);
    }
    try {
      secureRandoms.add((SecureRandom) staticField("java.util.UUID$Holder", "numberGenerator").get(null));
    } catch (ReflectiveOperationException | RuntimeException e) {
      unreachable("UUID.randomUUID()", e);
    }
    for (String variant : NATIVE_PRNG_VARIANTS) {
      try {
        secureRandoms.add(SecureRandom.getInstance(variant));
      } catch (Exception e) {
        // Not every platform has every variant: nothing to reseed then.
      }
    }
  }

  /** Reseeds everything prepare() found; returns what it could not reach (empty when all went well). */
  static synchronized List<String> reseed(byte[] controllerSeed) throws IOException {
    prepare();
    byte[] material = new byte[32 + controllerSeed.length];
    System.arraycopy(urandom(32), 0, material, 0, 32);
    System.arraycopy(controllerSeed, 0, material, 32, controllerSeed.length);
    // The long-seeded generators below hold 48 or 64 bits of state: the XOR of the material's 64-bit words
    // (uniform, since the urandom words are) is enough to set clones apart, and SplittableRandom spreads it
    // into distinct values.
    ByteBuffer words = ByteBuffer.wrap(material);
    long folded = 0;
    while (words.remaining() >= Long.BYTES) folded ^= words.getLong();
    SplittableRandom derive = new SplittableRandom(folded);

    List<String> failed = new ArrayList<>(problems);
    if (mathRandom != null) mathRandom.setSeed(derive.nextLong());
    if (randomSeedUniquifier != null) randomSeedUniquifier.set(derive.nextLong());
    if (splittableDefaultGen != null) splittableDefaultGen.set(derive.nextLong());
    if (collectionsRandom != null) {
      try {
        Random shuffleRandom = (Random) collectionsRandom.get(null);
        if (shuffleRandom != null) shuffleRandom.setSeed(derive.nextLong());
      } catch (IllegalAccessException e) {
        failed.add("Collections.shuffle(list): " + e);
      }
    }
    if (threadLocalSeeder != null) {
      threadLocalSeeder.set(derive.nextLong());
      try {
        for (Thread thread : liveThreads()) {
          threadSeed.setLong(thread, derive.nextLong());
          threadSecondarySeed.setInt(thread, derive.nextInt() | 1); // 0 means "not initialised yet"
        }
      } catch (IllegalAccessException e) {
        failed.add("ThreadLocalRandom: " + e);
      }
    }
    for (SecureRandom random : secureRandoms) random.setSeed(material);
    return failed;
  }

  private static byte[] urandom(int count) throws IOException {
    byte[] bytes = new byte[count];
    try (FileInputStream urandom = new FileInputStream("/dev/urandom")) {
      if (urandom.readNBytes(bytes, 0, count) != count) throw new IOException("short read from /dev/urandom");
    }
    return bytes;
  }

  private static Thread[] liveThreads() {
    ThreadGroup root = Thread.currentThread().getThreadGroup();
    while (root.getParent() != null) root = root.getParent();
    Thread[] threads = new Thread[root.activeCount() + 16];
    int count;
    while ((count = root.enumerate(threads, true)) == threads.length) threads = new Thread[threads.length * 2];
    Thread[] live = new Thread[count];
    System.arraycopy(threads, 0, live, 0, count);
    return live;
  }

  private static Field staticField(String className, String fieldName) throws ReflectiveOperationException {
    return accessible(Class.forName(className).getDeclaredField(fieldName));
  }

  private static Field accessible(Field field) {
    field.setAccessible(true);
    return field;
  }

  private static void unreachable(String generator, Throwable e) {
    problems.add(generator + ": " + e);
  }
}
