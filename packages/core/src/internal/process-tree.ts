import fs from 'node:fs';

/**
 * Every live descendant of `pid` (children, their children, ...), from /proc on Linux; empty
 * elsewhere. Read before killing a process: once it dies its children are reparented and the chain
 * that leads to them is gone.
 */
export function descendantsOf(pid: number, proc = '/proc'): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(proc);
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`${proc}/${entry}/stat`, 'latin1');
    } catch {
      continue; // Gone meanwhile.
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      if (found.includes(child)) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}
