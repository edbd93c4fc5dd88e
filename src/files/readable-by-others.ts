// An instance runs as a uid that owns nothing on the host: it reads what "others" may read, no more.

/** Whether a file of `mode` (a directory: listable and searchable) is readable by users other than its owner and group. */
export function readableByOthers(mode: number, directory: boolean): boolean {
  return directory ? (mode & 0o005) === 0o005 : (mode & 0o004) !== 0;
}
