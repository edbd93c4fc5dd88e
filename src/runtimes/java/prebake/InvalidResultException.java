package prebake;

/**
 * A handler returned a String that is not one JSON value. The shim passes results through unparsed, so it
 * checks them (Json.invalidity) and answers ok:false with this rather than hand the caller broken JSON.
 */
public final class InvalidResultException extends RuntimeException {
  private static final int SHOWN_CHARS = 80;

  InvalidResultException(String result, String problem) {
    super("the result is not JSON (" + problem + "): " + (result.length() <= SHOWN_CHARS ? "it is " : "it begins ")
        + Json.quote(shown(result))
        + " (a handler returns JSON text: a string result needs its quotes)");
  }

  private static String shown(String result) {
    if (result.length() <= SHOWN_CHARS) return result;
    // Never cut a surrogate pair in half.
    int end = Character.isHighSurrogate(result.charAt(SHOWN_CHARS - 1)) ? SHOWN_CHARS - 1 : SHOWN_CHARS;
    return result.substring(0, end) + "...";
  }
}
