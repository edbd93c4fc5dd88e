package prebake;

import java.util.Map;

/**
 * What a handler may take as its second parameter: {@code public String handle(String event, Context context)}.
 */
public final class Context {
  private final String requestId;
  private final String functionName;
  private final int memoryLimitInMB;
  private final long deadlineMs;
  private final Map<String, Object> header;

  /** {@code header}: the invoke frame's, with Lambda's fields the controller filled in (docs/PROTOCOL.md). */
  Context(String requestId, String functionName, int memoryLimitInMB, long deadlineMs, Map<String, Object> header) {
    this.requestId = requestId;
    this.functionName = functionName;
    this.memoryLimitInMB = memoryLimitInMB;
    this.deadlineMs = deadlineMs;
    this.header = header;
  }

  private String field(String name) {
    return header.get(name) instanceof String s ? s : null;
  }

  public String getRequestId() {
    return requestId;
  }

  public String getFunctionName() {
    return functionName;
  }

  public String getFunctionVersion() {
    String version = field("version");
    return version == null ? "$LATEST" : version;
  }

  public String getInvokedFunctionArn() {
    return field("arn");
  }

  public String getLogGroupName() {
    return field("logGroup");
  }

  public String getLogStreamName() {
    return field("logStream");
  }

  /** The caller's client context (X-Amz-Client-Context) as JSON text, or null. */
  public String getClientContextJson() {
    return field("clientContext");
  }

  /** The caller's Cognito identity as JSON text, or null. */
  public String getIdentityJson() {
    return field("identity");
  }

  public int getMemoryLimitInMB() {
    return memoryLimitInMB;
  }

  /** The invocation's deadline, epoch milliseconds. */
  public long getDeadlineMs() {
    return deadlineMs;
  }

  public long getRemainingTimeInMillis() {
    return Math.max(0, deadlineMs - System.currentTimeMillis());
  }

  @Override
  public String toString() {
    return "Context[requestId=" + requestId + ", functionName=" + functionName + "]";
  }
}
