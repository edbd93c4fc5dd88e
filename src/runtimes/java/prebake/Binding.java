package prebake;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Turns an event (JSON text) into a handler's parameter and its result back into JSON text, for the handler
 * shapes that take or return values rather than JSON text. With Jackson on the function's classpath (it ships
 * jackson-databind), Jackson binds every type, POJOs included, as AWS Lambda's Java runtime does (unknown
 * properties are ignored). Without it, the shim's own JSON binds Object, Map, List, String, Boolean and the
 * number types; a handler that needs more fails at init, saying to ship Jackson. Jackson is reached by
 * reflection: the shim depends on no jar.
 */
final class Binding {
  /** What reads one event into one parameter value. */
  interface Reader {
    Object read(String json) throws Throwable;
  }

  private static final String OBJECT_MAPPER = "com.fasterxml.jackson.databind.ObjectMapper";
  private final Object mapper;
  private final Method readValue;
  private final Method writeValueAsString;
  private final Method constructType;
  private final Object typeFactory;

  private Binding(Object mapper, Method readValue, Method writeValueAsString, Method constructType, Object typeFactory) {
    this.mapper = mapper;
    this.readValue = readValue;
    this.writeValueAsString = writeValueAsString;
    this.constructType = constructType;
    this.typeFactory = typeFactory;
  }

  /** Jackson's binding when the function ships it, else the shim's own. */
  static Binding create() throws ReflectiveOperationException {
    ClassLoader loader = ClassLoader.getSystemClassLoader();
    Class<?> mapperClass;
    try {
      mapperClass = Class.forName(OBJECT_MAPPER, true, loader);
    } catch (ClassNotFoundException e) {
      return new Binding(null, null, null, null, null);
    }
    Object mapper = mapperClass.getConstructor().newInstance();
    Class<?> feature = Class.forName("com.fasterxml.jackson.databind.DeserializationFeature", true, loader);
    @SuppressWarnings({"unchecked", "rawtypes"})
    Object failOnUnknown = Enum.valueOf((Class) feature, "FAIL_ON_UNKNOWN_PROPERTIES");
    mapperClass.getMethod("configure", feature, boolean.class).invoke(mapper, failOnUnknown, false);
    Class<?> javaType = Class.forName("com.fasterxml.jackson.databind.JavaType", true, loader);
    Object typeFactory = mapperClass.getMethod("getTypeFactory").invoke(mapper);
    return new Binding(
        mapper,
        mapperClass.getMethod("readValue", String.class, javaType),
        mapperClass.getMethod("writeValueAsString", Object.class),
        typeFactory.getClass().getMethod("constructType", Type.class),
        typeFactory);
  }

  boolean hasJackson() {
    return mapper != null;
  }

  /** A reader of events into `type`; throws at init for a type only Jackson could bind when it is missing. */
  Reader reader(Type type, String handlerName) throws Throwable {
    if (mapper != null) {
      Object javaType = unwrapped(() -> constructType.invoke(typeFactory, type));
      return json -> unwrapped(() -> readValue.invoke(mapper, json, javaType));
    }
    Class<?> raw = type instanceof ParameterizedType p ? (Class<?>) p.getRawType() : type instanceof Class<?> c ? c : null;
    if (raw == null || !builtIn(raw)) {
      throw new IllegalArgumentException("handler \"" + handlerName + "\" takes a " + type.getTypeName()
          + ": binding it from JSON needs Jackson, which the function does not ship (put jackson-databind, jackson-core and"
          + " jackson-annotations jars, or links to them, in its directory), or take a Map<String, Object>");
    }
    return json -> convert(Json.parse(json), raw);
  }

  /** The result as JSON text. */
  String write(Object result) throws Throwable {
    if (mapper != null) return (String) unwrapped(() -> writeValueAsString.invoke(mapper, result));
    return Json.write(result);
  }

  private static boolean builtIn(Class<?> type) {
    return type == Object.class || type == Map.class || type == List.class || type == Collection.class || type == Iterable.class
        || type == String.class || type == Boolean.class || type == boolean.class || type == Integer.class || type == int.class
        || type == Long.class || type == long.class || type == Double.class || type == double.class || type == Number.class;
  }

  private static Object convert(Object value, Class<?> type) {
    if (value == null) {
      if (type.isPrimitive()) throw new IllegalArgumentException("the event is null, and the handler takes a " + type);
      return null;
    }
    if (type == long.class || type == Long.class) return number(value, type).longValue();
    if (type == int.class || type == Integer.class) return Math.toIntExact(number(value, type).longValue());
    if (type == double.class || type == Double.class) return number(value, type).doubleValue();
    if (type == boolean.class) return (Boolean) value;
    Class<?> boxed = type;
    if (!boxed.isInstance(value)) {
      throw new IllegalArgumentException("the event is a " + describe(value) + ", and the handler takes a " + type.getSimpleName());
    }
    return value;
  }

  private static Number number(Object value, Class<?> type) {
    if (value instanceof Number n) return n;
    throw new IllegalArgumentException("the event is a " + describe(value) + ", and the handler takes a " + type.getSimpleName());
  }

  private static String describe(Object value) {
    if (value instanceof Map) return "JSON object";
    if (value instanceof List) return "JSON array";
    if (value instanceof String) return "JSON string";
    if (value instanceof Number) return "JSON number";
    return "JSON " + value;
  }

  private interface Call {
    Object call() throws Throwable;
  }

  // Reflection wraps what Jackson throws: the function should see Jackson's own exception.
  private static Object unwrapped(Call call) throws Throwable {
    try {
      return call.call();
    } catch (InvocationTargetException e) {
      throw e.getCause() == null ? e : e.getCause();
    }
  }
}
