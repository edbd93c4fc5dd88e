package prebake;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds a function's handler by the shape of its method, and wraps it as one call from event JSON text to result
 * JSON text. The shapes, for {@code "handler": "Class::method"}:
 *
 * <ul>
 *   <li>{@code String method(String event)} or {@code String method(String event, prebake.Context context)}: the
 *       event and the result are JSON text, passed through unparsed (no JSON library needed).
 *   <li>{@code void method(InputStream in, OutputStream out, Context context)}, as AWS's {@code
 *       RequestStreamHandler}: the event's bytes in, the result's bytes out.
 *   <li>Any other {@code R method(T event)} or {@code R method(T event, Context context)}, AWS's {@code
 *       RequestHandler<I, O>} included: the event is bound to T and the result written from R (see Binding:
 *       Jackson when the function ships it; Map, List and plain values without). When the context is AWS's or
 *       the class implements one of AWS's interfaces, a String is a JSON string, as in Lambda.
 * </ul>
 *
 * {@code Context} is prebake.Context or, when the function ships aws-lambda-java-core,
 * com.amazonaws.services.lambda.runtime.Context (prebake supplies it: see AwsContext).
 */
final class Handlers {
  /** A loaded handler: one event in, one result out, both JSON text. */
  interface Handler {
    String handle(String event, Context context) throws Throwable;
  }

  static final String AWS_PACKAGE = "com.amazonaws.services.lambda.runtime.";
  private static final MethodType TEXT_HANDLER = MethodType.methodType(String.class, String.class, Context.class);

  private Handlers() {}

  static Handler load(String functionDir, String handlerName) throws Throwable {
    int separator = handlerName.indexOf("::");
    if (separator <= 0 || separator + 2 >= handlerName.length()) {
      throw new IllegalArgumentException("handler \"" + handlerName + "\": expected \"Class::method\"");
    }
    String className = handlerName.substring(0, separator);
    String methodName = handlerName.substring(separator + 2);
    ClassLoader loader = ClassLoader.getSystemClassLoader();
    Class<?> handlerClass;
    try {
      handlerClass = Class.forName(className, false, loader);
    } catch (ClassNotFoundException e) {
      throw new ClassNotFoundException("handler \"" + handlerName + "\": no class " + className
          + " among the classes compiled from " + functionDir + " and its .jar files");
    }
    Class<?> awsContext = optionalClass(AWS_PACKAGE + "Context", loader);
    Method method = findMethod(handlerClass, methodName, awsContext);
    if (method == null) {
      throw new NoSuchMethodException("handler \"" + handlerName + "\": " + className + " has no public method " + methodName
          + "(String) or " + methodName + "(String, prebake.Context), nor another handler shape: " + methodName + "(T event) or "
          + methodName + "(T event, Context), " + methodName + "(InputStream, OutputStream, Context) (see the README)"
          + rejections(handlerClass, methodName, awsContext));
    }
    Class.forName(className, true, loader); // runs the static initializers: part of init
    method.setAccessible(true); // a handler class need not be public
    Object target = Modifier.isStatic(method.getModifiers()) ? null : instantiate(handlerClass, handlerName);
    Class<?>[] parameters = method.getParameterTypes();
    boolean withContext = parameters.length == (isStream(parameters) ? 3 : 2);
    boolean awsStyle = (withContext && parameters[parameters.length - 1] == awsContext) || implementsAws(handlerClass);

    if (isText(method) && !awsStyle) {
      MethodHandle handle = MethodHandles.lookup().unreflect(method);
      if (target != null) handle = handle.bindTo(target);
      if (!withContext) handle = MethodHandles.dropArguments(handle, 1, Context.class);
      MethodHandle text = handle.asType(TEXT_HANDLER);
      return (event, context) -> (String) text.invokeExact(event, context);
    }
    ContextArgument contextArgument = withContext ? contextArgument(parameters[parameters.length - 1]) : null;
    if (isStream(parameters)) {
      return (event, context) -> {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Object[] args = {new ByteArrayInputStream(event.getBytes(StandardCharsets.UTF_8)), out, null};
        if (contextArgument != null) args[2] = contextArgument.of(context);
        call(method, target, contextArgument == null ? new Object[] {args[0], args[1]} : args);
        return out.size() == 0 ? "null" : out.toString(StandardCharsets.UTF_8);
      };
    }
    Binding binding = Binding.create();
    Type eventType = method.getGenericParameterTypes()[0];
    Binding.Reader reader = eventType == String.class && !awsStyle ? json -> json : binding.reader(eventType, handlerName);
    boolean rawResult = method.getReturnType() == String.class && !awsStyle;
    return (event, context) -> {
      Object argument = reader.read(event);
      Object result = call(method, target, contextArgument == null ? new Object[] {argument} : new Object[] {argument, contextArgument.of(context)});
      return rawResult && result != null ? (String) result : binding.write(result);
    };
  }

  /** prebake's Context as the type a handler's parameter asks for. */
  private interface ContextArgument {
    Object of(Context context);
  }

  private static ContextArgument contextArgument(Class<?> type) {
    if (type == Context.class) return context -> context;
    return context -> AwsContext.of(type, context);
  }

  // The handler's own exception, not reflection's wrapper around it.
  private static Object call(Method method, Object target, Object[] args) throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause() == null ? e : e.getCause();
    }
  }

  private static Method findMethod(Class<?> handlerClass, String name, Class<?> awsContext) {
    List<Method> candidates = new ArrayList<>();
    for (Method method : handlerClass.getMethods()) {
      if (!method.getName().equals(name) || method.isBridge() || method.isSynthetic()) continue;
      Class<?>[] parameters = method.getParameterTypes();
      boolean stream = isStream(parameters);
      int events = stream ? 2 : 1;
      if (parameters.length == events) candidates.add(method);
      else if (parameters.length == events + 1) {
        Class<?> context = parameters[events];
        if (context == Context.class || (awsContext != null && context == awsContext)) candidates.add(method);
      }
    }
    // The plain text shape first (the shim's original one), then the one with a context.
    candidates.sort((a, b) -> {
      if (isText(a) != isText(b)) return isText(a) ? -1 : 1;
      return b.getParameterCount() - a.getParameterCount();
    });
    return candidates.isEmpty() ? null : candidates.get(0);
  }

  private static final String[] ORDINALS = {"first", "second", "third", "fourth"};

  // Why each public method of that name is not a handler: a reader who wrote one sees what to change.
  private static String rejections(Class<?> handlerClass, String name, Class<?> awsContext) {
    StringBuilder reasons = new StringBuilder();
    String contexts = "prebake.Context" + (awsContext != null ? " or " + awsContext.getName()
        : " (or " + AWS_PACKAGE + "Context when the function ships aws-lambda-java-core)");
    for (Method method : handlerClass.getMethods()) {
      if (!method.getName().equals(name)) continue;
      Class<?>[] parameters = method.getParameterTypes();
      int events = isStream(parameters) ? 2 : 1;
      String reason;
      if (parameters.length == 0 || parameters.length > events + 1) {
        reason = "it takes " + parameters.length + " parameters; expected the event and optionally a Context"
            + " (or InputStream, OutputStream and a Context)";
      } else {
        String type = parameters[events].getName();
        reason = "its " + ORDINALS[events] + " parameter is " + parameters[events].getSimpleName()
            + (parameters[events].getSimpleName().equals("Context") ? " (" + type + ")" : "") + "; expected Context: " + contexts;
      }
      reasons.append("; ").append(describe(method)).append(" was not taken: ").append(reason);
    }
    return reasons.toString();
  }

  private static String describe(Method method) {
    StringBuilder text = new StringBuilder(method.getName()).append('(');
    Class<?>[] parameters = method.getParameterTypes();
    for (int i = 0; i < parameters.length; i++) text.append(i == 0 ? "" : ", ").append(parameters[i].getSimpleName());
    return text.append(')').toString();
  }

  private static boolean isText(Method method) {
    Class<?>[] parameters = method.getParameterTypes();
    return method.getReturnType() == String.class && parameters[0] == String.class
        && (parameters.length == 1 || parameters[1] == Context.class);
  }

  private static boolean isStream(Class<?>[] parameters) {
    return parameters.length >= 2 && parameters[0] == InputStream.class && parameters[1] == OutputStream.class;
  }

  private static boolean implementsAws(Class<?> type) {
    for (Class<?> c = type; c != null; c = c.getSuperclass()) {
      for (Class<?> implemented : c.getInterfaces()) {
        if (implemented.getName().startsWith(AWS_PACKAGE)) return true;
      }
    }
    return false;
  }

  private static Object instantiate(Class<?> handlerClass, String handlerName) throws Throwable {
    Constructor<?> constructor;
    try {
      constructor = handlerClass.getDeclaredConstructor();
    } catch (NoSuchMethodException e) {
      throw new NoSuchMethodException("handler \"" + handlerName + "\": " + handlerClass.getName() + " has no constructor without parameters");
    }
    constructor.setAccessible(true);
    try {
      return constructor.newInstance();
    } catch (InvocationTargetException e) {
      throw e.getCause() == null ? e : e.getCause();
    }
  }

  static Class<?> optionalClass(String name, ClassLoader loader) {
    try {
      return Class.forName(name, false, loader);
    } catch (ClassNotFoundException e) {
      return null;
    }
  }
}
