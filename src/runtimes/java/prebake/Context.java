package prebake;

/**
 * What a handler may take as its second parameter: {@code public String handle(String event, Context context)}.
 */
public final class Context {
  private final String requestId;
  private final String functionName;
  private final int memoryLimitInMB;
  private final long deadlineMs;

  Context(String requestId, String functionName, int memoryLimitInMB, long deadlineMs) {
    this.requestId = requestId;
    this.functionName = functionName;
    this.memoryLimitInMB = memoryLimitInMB;
    this.deadlineMs = deadlineMs;
  }

  public String getRequestId() {
    return requestId;
  }

  public String getFunctionName() {
    return functionName;
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
