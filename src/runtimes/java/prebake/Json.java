package prebake;

import java.util.HashMap;
import java.util.Map;

/**
 * Just enough JSON for the shim, which has no JSON library: reads the controller's flat headers (string,
 * number, boolean and null values, docs/PROTOCOL.md) and quotes the strings of the headers it writes.
 * Events and results are never parsed: they pass through as text.
 */
final class Json {
  private static final String HEX = "0123456789abcdef";
  private final String text;
  private int pos;

  private Json(String text) {
    this.text = text;
  }

  /** Parses a flat JSON object; numbers become Double. Throws IllegalArgumentException on anything else. */
  static Map<String, Object> parseFlatObject(String text) {
    Json parser = new Json(text);
    Map<String, Object> object = parser.object();
    parser.skipSpace();
    if (parser.pos != text.length()) throw parser.error("text after the object");
    return object;
  }

  static String quote(String value) {
    StringBuilder out = new StringBuilder(value.length() + 2);
    quote(out, value);
    return out.toString();
  }

  static void quote(StringBuilder out, String value) {
    out.append('"');
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        default -> {
          if (c < 0x20) out.append("\\u00").append(HEX.charAt(c >> 4)).append(HEX.charAt(c & 0xf));
          else out.append(c);
        }
      }
    }
    out.append('"');
  }

  private Map<String, Object> object() {
    Map<String, Object> object = new HashMap<>();
    skipSpace();
    expect('{');
    skipSpace();
    if (peek() == '}') {
      pos++;
      return object;
    }
    for (;;) {
      skipSpace();
      String key = string();
      skipSpace();
      expect(':');
      skipSpace();
      object.put(key, value());
      skipSpace();
      char next = next();
      if (next == '}') return object;
      if (next != ',') throw error("expected ',' or '}'");
    }
  }

  private Object value() {
    char c = peek();
    if (c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (text.startsWith("true", pos)) return literal("true", Boolean.TRUE);
    if (text.startsWith("false", pos)) return literal("false", Boolean.FALSE);
    if (text.startsWith("null", pos)) return literal("null", null);
    throw error("expected a string, number, boolean or null (headers are flat)");
  }

  private Object literal(String word, Object value) {
    pos += word.length();
    return value;
  }

  private Double number() {
    int start = pos;
    while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) pos++;
    try {
      return Double.valueOf(text.substring(start, pos));
    } catch (NumberFormatException e) {
      throw error("bad number");
    }
  }

  private String string() {
    expect('"');
    StringBuilder out = new StringBuilder();
    for (;;) {
      char c = next();
      if (c == '"') return out.toString();
      if (c != '\\') {
        out.append(c);
        continue;
      }
      char escape = next();
      switch (escape) {
        case '"', '\\', '/' -> out.append(escape);
        case 'n' -> out.append('\n');
        case 'r' -> out.append('\r');
        case 't' -> out.append('\t');
        case 'b' -> out.append('\b');
        case 'f' -> out.append('\f');
        case 'u' -> {
          if (pos + 4 > text.length()) throw error("short \\u escape");
          try {
            out.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
          } catch (NumberFormatException e) {
            throw error("bad \\u escape");
          }
          pos += 4;
        }
        default -> throw error("bad escape");
      }
    }
  }

  private void skipSpace() {
    while (pos < text.length() && " \t\r\n".indexOf(text.charAt(pos)) >= 0) pos++;
  }

  private char peek() {
    if (pos >= text.length()) throw error("unexpected end");
    return text.charAt(pos);
  }

  private char next() {
    char c = peek();
    pos++;
    return c;
  }

  private void expect(char c) {
    if (next() != c) throw error("expected '" + c + "'");
  }

  private IllegalArgumentException error(String what) {
    return new IllegalArgumentException("bad control frame header at offset " + pos + ": " + what);
  }
}
