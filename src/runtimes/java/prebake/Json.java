package prebake;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Just enough JSON for the shim, which has no JSON library of its own: reads the controller's flat headers
 * (string, number, boolean and null values, docs/PROTOCOL.md), quotes the strings of the headers it writes,
 * checks that a handler's result is one JSON value (RFC 8259), and, for handlers that take or return a Map, a
 * List or a plain value while the function ships no Jackson, parses and writes those (see Binding).
 */
final class Json {
  private static final String HEX = "0123456789abcdef";
  private final String text;
  // Whether objects and arrays may nest: not in control frame headers, which are flat.
  private final boolean nested;
  private int pos;

  private Json(String text, boolean nested) {
    this.text = text;
    this.nested = nested;
  }

  /** Parses a flat JSON object; numbers become Double. Throws IllegalArgumentException on anything else. */
  static Map<String, Object> parseFlatObject(String text) {
    Json parser = new Json(text, false);
    Map<String, Object> object = parser.object();
    parser.skipSpace();
    if (parser.pos != text.length()) throw parser.error("text after the object");
    return object;
  }

  /**
   * Null when `text` is exactly one JSON value (whitespace around it allowed), else what is wrong and where.
   * Iterative, so that deep nesting cannot overflow the stack.
   */
  /**
   * Parses one JSON value: objects become LinkedHashMap, arrays ArrayList, numbers Integer, Long or Double (the
   * first that holds them), and true, false and null Boolean and null. Throws IllegalArgumentException.
   */
  static Object parse(String text) {
    Json parser = new Json(text, true);
    parser.skipSpace();
    Object value = parser.value();
    parser.skipSpace();
    if (parser.pos != text.length()) throw parser.error("text after the value");
    return value;
  }

  /** One JSON value for `value`: null, a String, Character, Number, Boolean, Enum, Map, Iterable or array. */
  static String write(Object value) {
    StringBuilder out = new StringBuilder();
    write(out, value);
    return out.toString();
  }

  private static void write(StringBuilder out, Object value) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof String || value instanceof Character) {
      quote(out, value.toString());
    } else if (value instanceof Boolean) {
      out.append(value);
    } else if (value instanceof Number number) {
      if ((number instanceof Double d && (d.isNaN() || d.isInfinite())) || (number instanceof Float f && (f.isNaN() || f.isInfinite()))) {
        throw new IllegalArgumentException("the result holds " + number + ", which JSON cannot express");
      }
      out.append(number);
    } else if (value instanceof Enum<?> constant) {
      quote(out, constant.name());
    } else if (value instanceof Map<?, ?> map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        if (!first) out.append(',');
        first = false;
        quote(out, String.valueOf(entry.getKey()));
        out.append(':');
        write(out, entry.getValue());
      }
      out.append('}');
    } else if (value instanceof Iterable<?> items) {
      out.append('[');
      boolean first = true;
      for (Object item : items) {
        if (!first) out.append(',');
        first = false;
        write(out, item);
      }
      out.append(']');
    } else if (value.getClass().isArray()) {
      out.append('[');
      for (int i = 0; i < Array.getLength(value); i++) {
        if (i > 0) out.append(',');
        write(out, Array.get(value, i));
      }
      out.append(']');
    } else {
      throw new UnsupportedOperationException("a " + value.getClass().getName() + " cannot be written as JSON without Jackson:"
          + " ship jackson-databind (with jackson-core and jackson-annotations) in the function's directory, or return a Map,"
          + " a List, a String, a number or a boolean");
    }
  }

  static String invalidity(String text) {
    return new Validator(text).check();
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
    Map<String, Object> object = nested ? new LinkedHashMap<>() : new HashMap<>();
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

  private List<Object> array() {
    List<Object> array = new ArrayList<>();
    expect('[');
    skipSpace();
    if (peek() == ']') {
      pos++;
      return array;
    }
    for (;;) {
      skipSpace();
      array.add(value());
      skipSpace();
      char next = next();
      if (next == ']') return array;
      if (next != ',') throw error("expected ',' or ']'");
    }
  }

  private Object value() {
    char c = peek();
    if (c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return nested ? typedNumber() : number();
    if (nested && c == '{') return object();
    if (nested && c == '[') return array();
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

  private Number typedNumber() {
    int start = pos;
    double value = number();
    String digits = text.substring(start, pos);
    if (digits.indexOf('.') < 0 && digits.indexOf('e') < 0 && digits.indexOf('E') < 0) {
      try {
        long whole = Long.parseLong(digits);
        if (whole == (int) whole) return (int) whole;
        return whole;
      } catch (NumberFormatException e) {
        // beyond a long: a double, as JavaScript would read it
      }
    }
    return value;
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
    return new IllegalArgumentException((nested ? "bad JSON at offset " : "bad control frame header at offset ") + pos + ": " + what);
  }
  /** A validating scanner: one pass over the text, with the open arrays and objects on an explicit stack. */
  private static final class Validator {
    private final String text;
    private int pos;
    // The open containers, innermost last: '[' or '{'.
    private char[] open = new char[16];
    private int depth;

    Validator(String text) {
      this.text = text;
    }

    String check() {
      try {
        space();
        for (;;) {
          // At the start of a value.
          char c = peek();
          if (c == '[' || c == '{') {
            pos++;
            push(c);
            space();
            if (peek() == (c == '[' ? ']' : '}')) {
              pos++;
              depth--;
            } else {
              if (c == '{') key();
              continue;
            }
          } else {
            scalar(c);
          }
          // After a value: close containers until one continues with a comma, or the text ends.
          for (;;) {
            space();
            if (depth == 0) {
              if (pos != text.length()) throw new Invalid("text after the value");
              return null;
            }
            char closer = open[depth - 1] == '[' ? ']' : '}';
            char next = peek();
            pos++;
            if (next == ',') {
              space();
              if (closer == '}') key();
              break;
            }
            if (next != closer) {
              pos--;
              throw new Invalid("expected ',' or '" + closer + "'");
            }
            depth--;
          }
        }
      } catch (Invalid e) {
        return e.getMessage() + " at offset " + pos;
      }
    }

    private void push(char c) {
      if (depth == open.length) open = Arrays.copyOf(open, depth * 2);
      open[depth++] = c;
    }

    // An object member's key and colon; leaves pos at its value.
    private void key() {
      if (peek() != '"') throw new Invalid("expected a string key");
      string();
      space();
      if (peek() != ':') throw new Invalid("expected ':'");
      pos++;
      space();
    }

    private void scalar(char c) {
      if (c == '"') string();
      else if (c == '-' || (c >= '0' && c <= '9')) number();
      else if (!(word("true") || word("false") || word("null"))) throw new Invalid("expected a value");
    }

    private boolean word(String word) {
      if (!text.startsWith(word, pos)) return false;
      pos += word.length();
      return true;
    }

    private void string() {
      pos++; // the opening quote
      for (;;) {
        char c = peek();
        pos++;
        if (c == '"') return;
        if (c < 0x20) {
          pos--;
          throw new Invalid("unescaped control character in a string");
        }
        if (c != '\\') continue;
        char escape = peek();
        pos++;
        if (escape == 'u') {
          for (int i = 0; i < 4; i++, pos++) {
            char h = peek();
            if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) throw new Invalid("bad \\u escape");
          }
        } else if ("\"\\/bfnrt".indexOf(escape) < 0) {
          pos--;
          throw new Invalid("bad escape");
        }
      }
    }

    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private void number() {
      if (text.charAt(pos) == '-') pos++;
      if (pos < text.length() && text.charAt(pos) == '0') pos++;
      else digits();
      if (pos < text.length() && text.charAt(pos) == '.') {
        pos++;
        digits();
      }
      if (pos < text.length() && (text.charAt(pos) == 'e' || text.charAt(pos) == 'E')) {
        pos++;
        if (pos < text.length() && (text.charAt(pos) == '+' || text.charAt(pos) == '-')) pos++;
        digits();
      }
    }

    private void digits() {
      int start = pos;
      while (pos < text.length() && text.charAt(pos) >= '0' && text.charAt(pos) <= '9') pos++;
      if (pos == start) throw new Invalid("expected a digit");
    }

    private void space() {
      while (pos < text.length()) {
        char c = text.charAt(pos);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        pos++;
      }
    }

    private char peek() {
      if (pos >= text.length()) throw new Invalid("unexpected end");
      return text.charAt(pos);
    }
  }

  /** Thrown inside the Validator only; its message says what is wrong. */
  private static final class Invalid extends RuntimeException {
    Invalid(String what) {
      super(what, null, false, false); // no stack trace: it never leaves the Validator
    }
  }
}
