package prebake;

import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AWS Lambda's {@code com.amazonaws.services.lambda.runtime.Context}, for a function that ships
 * aws-lambda-java-core: a proxy of that interface answered from prebake's Context, so the shim needs no jar.
 * getLogger() logs to the function's stdout, as Lambda's logger writes to its log stream.
 */
final class AwsContext {
  private AwsContext() {}

  static Object of(Class<?> contextInterface, Context context) {
    ClassLoader loader = contextInterface.getClassLoader();
    return Proxy.newProxyInstance(loader, new Class<?>[] {contextInterface}, (proxy, method, args) -> {
      switch (method.getName()) {
        case "getAwsRequestId": return context.getRequestId();
        case "getFunctionName": return context.getFunctionName();
        case "getFunctionVersion": return context.getFunctionVersion();
        case "getMemoryLimitInMB": return context.getMemoryLimitInMB();
        case "getRemainingTimeInMillis": return (int) Math.min(Integer.MAX_VALUE, context.getRemainingTimeInMillis());
        case "getLogGroupName": return context.getLogGroupName();
        case "getLogStreamName": return context.getLogStreamName();
        case "getInvokedFunctionArn": return context.getInvokedFunctionArn();
        case "getClientContext": return fromJson(method.getReturnType(), context.getClientContextJson());
        case "getIdentity": return fromJson(method.getReturnType(), context.getIdentityJson());
        case "getLogger": return logger(method.getReturnType());
        case "toString": return "AwsContext[" + context + "]";
        case "hashCode": return System.identityHashCode(proxy);
        case "equals": return proxy == args[0];
        default: return defaultValue(method.getReturnType());
      }
    });
  }

  /**
   * An object of AWS's interface {@code type} (ClientContext, Client, CognitoIdentity) answered from the JSON the
   * caller sent: getAppTitle() reads key "appTitle", "AppTitle" or "app_title" (the wire's spelling); a nested interface
   * (getClient) is answered the same way from the nested object. Null when nothing was sent.
   */
  @SuppressWarnings("unchecked")
  private static Object fromJson(Class<?> type, String json) {
    if (json == null || !type.isInterface()) return null;
    Object parsed = Json.parse(json);
    return parsed instanceof Map<?, ?> map ? view(type, (Map<String, Object>) map) : null;
  }

  @SuppressWarnings("unchecked")
  private static Object view(Class<?> type, Map<String, Object> values) {
    return Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (proxy, method, args) -> {
      String name = method.getName();
      if (name.equals("hashCode")) return System.identityHashCode(proxy);
      if (name.equals("equals")) return proxy == args[0];
      if (name.equals("toString")) return type.getSimpleName() + values;
      if (!name.startsWith("get") || name.length() == 3) return defaultValue(method.getReturnType());
      String property = name.substring(3);
      String key = Character.toLowerCase(property.charAt(0)) + property.substring(1);
      Object value = values.get(key);
      if (value == null) value = values.get(property);
      if (value == null) value = values.get(key.replaceAll("([A-Z])", "_$1").toLowerCase());
      if (value == null && key.equals("environment")) value = values.get("env");
      // CognitoIdentity's getIdentityId() is the wire's "cognitoIdentityId".
      if (value == null) value = values.get("cognito" + property);
      Class<?> returns = method.getReturnType();
      if (value instanceof Map<?, ?> nested && returns.isInterface() && !Map.class.isAssignableFrom(returns)) {
        return view(returns, (Map<String, Object>) nested);
      }
      if (value instanceof Map<?, ?> nested && Map.class.isAssignableFrom(returns)) {
        Map<String, String> strings = new LinkedHashMap<>();
        nested.forEach((k, v) -> strings.put(String.valueOf(k), v == null ? null : String.valueOf(v)));
        return strings;
      }
      if (returns == String.class) return value == null ? null : String.valueOf(value);
      return value == null ? defaultValue(returns) : value;
    });
  }

  private static Object logger(Class<?> loggerInterface) {
    if (!loggerInterface.isInterface()) return null;
    return Proxy.newProxyInstance(loggerInterface.getClassLoader(), new Class<?>[] {loggerInterface}, (proxy, method, args) -> {
      if (method.getName().equals("log") && args != null && args.length >= 1) {
        Object message = args[0];
        System.out.println(message instanceof byte[] bytes ? new String(bytes, StandardCharsets.UTF_8) : String.valueOf(message));
        return null;
      }
      if (method.getName().equals("hashCode")) return System.identityHashCode(proxy);
      if (method.getName().equals("equals")) return proxy == args[0];
      if (method.getName().equals("toString")) return "LambdaLogger[stdout]";
      return defaultValue(method.getReturnType());
    });
  }

  // What a method of a newer Context than this proxy knows returns: nothing.
  private static Object defaultValue(Class<?> type) {
    if (type == boolean.class) return false;
    if (type == int.class) return 0;
    if (type == long.class) return 0L;
    return null;
  }
}
