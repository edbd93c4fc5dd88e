package prebake;

import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;

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
        case "getFunctionVersion": return "$LATEST";
        case "getMemoryLimitInMB": return context.getMemoryLimitInMB();
        case "getRemainingTimeInMillis": return (int) Math.min(Integer.MAX_VALUE, context.getRemainingTimeInMillis());
        case "getLogGroupName", "getLogStreamName", "getInvokedFunctionArn", "getIdentity", "getClientContext": return null;
        case "getLogger": return logger(method.getReturnType());
        case "toString": return "AwsContext[" + context + "]";
        case "hashCode": return System.identityHashCode(proxy);
        case "equals": return proxy == args[0];
        default: return defaultValue(method.getReturnType());
      }
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
