package prebake;

import java.io.DataInputStream;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The Java shim: runs one function and speaks docs/PROTOCOL.md with the controller.
 *
 * <pre>  java [flags] -cp SHIM_CLASSES:FUNCTION_CLASSES:... prebake.Shim FUNCTION_DIR Class::method</pre>
 *
 * The handler is a method of a class with a no-argument constructor (or a static method), in one of the shapes
 * Handlers lists; the shim makes one instance at start (with the class's static initializers, that is the
 * function's init) and calls the method once per invocation, on its main thread. A null result is sent as
 * {@code null}, and an empty event arrives as {@code "null"}. A result that is not one JSON value fails the
 * invocation with an {@link InvalidResultException}.
 *
 * <p>The control channel is opened as /proc/self/fd/3 and /proc/self/fd/4: Java has no public way to wrap an
 * inherited descriptor number in a stream, and opening the /proc link of a pipe opens the same pipe.
 */
public final class Shim {
  static final int MAX_HEADER_BYTES = 64 * 1024;
  static final int MAX_BODY_BYTES = 64 * 1024 * 1024;
  // Error texts are clipped until the header fits MAX_HEADER_BYTES; these are where clipping starts.
  static final int MESSAGE_CHARS = 8 * 1024;
  static final int STACK_CHARS = 32 * 1024;

  private final DataInputStream in;
  private final OutputStream out;
  private final String functionName;
  private final int memoryMb;
  private Handlers.Handler handler;

  private Shim(DataInputStream in, OutputStream out) {
    this.in = in;
    this.out = out;
    this.functionName = System.getenv().getOrDefault("PREBAKE_FUNCTION_NAME", "");
    int memory = 0;
    try {
      memory = Integer.parseInt(System.getenv().getOrDefault("PREBAKE_MEMORY_MB", "0"));
    } catch (NumberFormatException e) {
      // leave 0: unknown
    }
    this.memoryMb = memory;
  }

  public static void main(String[] args) {
    if (args.length != 2) {
      System.err.println("usage: prebake.Shim <function dir> <Class::method>");
      exit(2);
    }
    Shim shim;
    try {
      shim = new Shim(
          new DataInputStream(new BufferedInputStream(new FileInputStream("/proc/self/fd/3"), 64 * 1024)),
          new FileOutputStream("/proc/self/fd/4"));
    } catch (IOException e) {
      System.err.println("prebake: cannot open the control channel (fds 3 and 4): " + e);
      exit(2);
      return;
    }
    shim.run(args[0], args[1]);
  }

  private void run(String functionDir, String handlerName) {
    try {
      long started = System.nanoTime();
      try {
        handler = Handlers.load(functionDir, handlerName);
      } catch (Throwable t) {
        flushLogs();
        send(errorHeader("{\"type\":\"init-error\"", unwrap(t)), null);
        exit(1);
      }
      double initMs = Math.round((System.nanoTime() - started) / 1000.0) / 1000.0;
      send("{\"type\":\"ready\",\"runtime\":\"java\",\"initMs\":" + initMs + "}", null);
      for (;;) {
        Frame frame = readFrame();
        if (frame == null) exit(0);
        Object type = frame.header.get("type");
        if ("invoke".equals(type)) invoke(frame);
        else if ("checkpoint".equals(type)) checkpoint();
        else if ("resume".equals(type)) resume(frame);
        else throw new IllegalArgumentException("a control frame of unknown type " + type);
      }
    } catch (IOException e) {
      exit(0); // the controller is gone (a write hit a closed pipe)
    } catch (IllegalArgumentException e) {
      System.err.println("prebake: protocol error: " + e.getMessage());
      exit(2);
    }
  }

  // --- messages ------------------------------------------------------------------------------------------

  private void invoke(Frame frame) throws IOException {
    String id = frame.header.get("id") instanceof String s ? s : null;
    long deadline = frame.header.get("deadline") instanceof Double d ? d.longValue() : Long.MAX_VALUE;
    String start = "{\"type\":\"result\",\"id\":" + (id == null ? "null" : Json.quote(id)) + ",\"ok\":";
    byte[] result;
    try {
      String event = frame.body.length == 0 ? "null" : new String(frame.body, StandardCharsets.UTF_8);
      String returned = handler.handle(event, new Context(id, functionName, memoryMb, deadline, frame.header));
      if (returned == null) returned = "null";
      String problem = Json.invalidity(returned);
      if (problem != null) throw new InvalidResultException(returned, problem);
      result = returned.getBytes(StandardCharsets.UTF_8);
      if (result.length > MAX_BODY_BYTES) {
        throw new IllegalStateException("the result is " + result.length + " bytes, over the limit of " + MAX_BODY_BYTES);
      }
    } catch (Throwable t) {
      flushLogs();
      send(errorHeader(start + "false", t), null);
      return;
    }
    flushLogs();
    send(start + "true}", result);
  }

  private void checkpoint() throws IOException {
    try {
      Hooks.runBeforeCheckpoint();
      // After the hooks, which may still use a client.
      HttpConnections.closeIdle();
      // Loads what reseeding needs into the snapshot, so a clone's resume does no class loading.
      Reseed.prepare();
    } catch (Throwable t) {
      flushLogs();
      send(errorHeader("{\"type\":\"hook-error\",\"phase\":\"beforeCheckpoint\"", t), null);
      return;
    }
    // Flushed before the snapshot, so no clone writes the same buffered log line again.
    flushLogs();
    send("{\"type\":\"checkpoint-ready\"}", null);
  }

  private void resume(Frame frame) throws IOException {
    try {
      byte[] seed = parseSeed(frame.header.get("seed"));
      List<String> unreachable = Reseed.reseed(seed);
      for (String problem : unreachable) System.err.println("prebake: could not reseed " + problem);
      Hooks.runAfterRestore();
    } catch (Throwable t) {
      flushLogs();
      send(errorHeader("{\"type\":\"hook-error\",\"phase\":\"afterRestore\"", t), null);
      return;
    }
    flushLogs();
    send("{\"type\":\"resumed\"}", null);
  }

  private static byte[] parseSeed(Object seed) {
    if (!(seed instanceof String hex) || hex.length() != 64) {
      throw new IllegalArgumentException("the resume frame has no \"seed\" of 64 hex characters");
    }
    byte[] bytes = new byte[32];
    for (int i = 0; i < 32; i++) {
      int high = Character.digit(hex.charAt(2 * i), 16);
      int low = Character.digit(hex.charAt(2 * i + 1), 16);
      if (high < 0 || low < 0) throw new IllegalArgumentException("the resume frame's seed is not hex");
      bytes[i] = (byte) (high << 4 | low);
    }
    return bytes;
  }

  // --- init ----------------------------------------------------------------------------------------------

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof InvocationTargetException || t instanceof ExceptionInInitializerError) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  // --- frames --------------------------------------------------------------------------------------------

  private record Frame(Map<String, Object> header, byte[] body) {}

  private Frame readFrame() throws IOException {
    try {
      int headerLength = in.readInt();
      if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
        throw new IllegalArgumentException("control frame header of " + Integer.toUnsignedString(headerLength) + " bytes is over the limit");
      }
      byte[] header = new byte[headerLength];
      in.readFully(header);
      int bodyLength = in.readInt();
      if (bodyLength < 0 || bodyLength > MAX_BODY_BYTES) {
        throw new IllegalArgumentException("control frame body of " + Integer.toUnsignedString(bodyLength) + " bytes is over the limit");
      }
      byte[] body = new byte[bodyLength];
      in.readFully(body);
      return new Frame(Json.parseFlatObject(new String(header, StandardCharsets.UTF_8)), body);
    } catch (EOFException e) {
      return null;
    }
  }

  private void send(String header, byte[] body) throws IOException {
    byte[] head = header.getBytes(StandardCharsets.UTF_8);
    int bodyLength = body == null ? 0 : body.length;
    ByteBuffer frame = ByteBuffer.allocate(8 + head.length + bodyLength);
    frame.putInt(head.length).put(head).putInt(bodyLength);
    if (body != null) frame.put(body);
    out.write(frame.array());
  }

  /** {@code start} (an unclosed header object) plus {@code "error": E} for `t`, clipped to fit. */
  private static String errorHeader(String start, Throwable t) {
    String type = t.getClass().getName();
    String message;
    try {
      message = t.getMessage() == null ? "" : t.getMessage();
    } catch (Throwable e) {
      message = "<" + type + " whose getMessage() threw>";
    }
    String stack = stackTrace(t);
    int messageChars = MESSAGE_CHARS;
    int stackChars = STACK_CHARS;
    for (;;) {
      StringBuilder header = new StringBuilder(start).append(",\"error\":{\"type\":");
      Json.quote(header, type);
      header.append(",\"message\":");
      Json.quote(header, clip(message, messageChars));
      header.append(",\"stack\":");
      Json.quote(header, clip(stack, stackChars));
      header.append("}}");
      String text = header.toString();
      // UTF-8 takes at most 3 bytes per UTF-16 char; measure exactly only when that bound is over.
      if (text.length() * 3 <= MAX_HEADER_BYTES || text.getBytes(StandardCharsets.UTF_8).length <= MAX_HEADER_BYTES) return text;
      messageChars /= 2;
      stackChars /= 2;
    }
  }

  private static String clip(String text, int limit) {
    return text.length() <= limit ? text : text.substring(0, limit) + "...";
  }

  // The trace without the shim's own frames (and the reflection frames that lead to the handler).
  private static String stackTrace(Throwable t) {
    StackTraceElement[] frames = t.getStackTrace();
    int end = frames.length;
    while (end > 0 && isShimFrame(frames[end - 1].getClassName())) end--;
    if (end > 0 && end < frames.length) t.setStackTrace(Arrays.copyOf(frames, end));
    StringWriter text = new StringWriter();
    t.printStackTrace(new PrintWriter(text));
    return text.toString();
  }

  private static boolean isShimFrame(String className) {
    return className.startsWith("prebake.") || className.startsWith("java.lang.invoke.")
        || className.startsWith("java.lang.reflect.") || className.startsWith("jdk.internal.reflect.");
  }

  private static void flushLogs() {
    System.out.flush();
    System.err.flush();
  }

  // A hard exit: the controller asked for it (or is gone), and neither a function's non-daemon thread nor
  // its shutdown hooks may keep the instance alive.
  private static void exit(int code) {
    flushLogs();
    Runtime.getRuntime().halt(code);
  }
}
