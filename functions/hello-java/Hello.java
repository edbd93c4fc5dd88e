// The smallest Java function: greets, and counts its invocations since init. A clone restored from the
// snapshot starts from the state after the warm-up, so its first invocation reports the warm-up's
// invocations plus one. The shim has no JSON library and neither does this function: it reads "name" with a
// regular expression.
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Hello {
  private static final Pattern NAME = Pattern.compile("\"name\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  private final long initializedAt = System.currentTimeMillis();
  private int invocations;

  public String handleRequest(String event) {
    invocations++;
    Matcher name = NAME.matcher(event);
    String who = name.find() ? name.group(1) : "world";
    return "{\"message\":\"Hello, " + who + "!\",\"runtime\":\"java\",\"initializedAt\":" + initializedAt
        + ",\"invocations\":" + invocations + "}";
  }
}
