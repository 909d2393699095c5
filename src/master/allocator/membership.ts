/**
 * Who may be offered what: the frameworks, the roles each subscribed with, which of those it
 * suppressed, whether it is connected, and per role the members that want offers now, in DRF
 * order. Pure books of the allocator; it bumps its own versions around these calls.
 */
import { DrfSorter } from './sorter.js';
import { newRoleStats, type RoleStats } from './explain.js';

interface FrameworkEntry {
  id: string;
  roles: Set<string>;
  suppressed: Set<string>;
  active: boolean;
}

export interface RoleEntry {
  name: string;
  /** Frameworks subscribed with this role. */
  members: Set<string>;
  /** The members that want offers now (active, not suppressed for this role), in DRF order. */
  frameworks: DrfSorter;
  stats: RoleStats;
}

export class Membership {
  readonly roles = new Map<string, RoleEntry>();
  private readonly frameworks = new Map<string, FrameworkEntry>();

  /** `onNewRole` runs once per role, when the role is first seen. */
  constructor(private readonly onNewRole: (role: string) => void) {}

  /** The role's entry, made (and announced) when it is new. */
  ensureRole(role: string): RoleEntry {
    let entry = this.roles.get(role);
    if (!entry) {
      entry = { name: role, members: new Set(), frameworks: new DrfSorter(), stats: newRoleStats() };
      this.roles.set(role, entry);
      this.onNewRole(role);
    }
    return entry;
  }

  /** Adds a framework (active unless said otherwise); re-adding updates its roles. */
  addFramework(id: string, roles: readonly string[], options: { active?: boolean }): void {
    const existing = this.frameworks.get(id);
    const framework: FrameworkEntry = existing ?? { id, roles: new Set(), suppressed: new Set(), active: options.active ?? true };
    if (!existing) this.frameworks.set(id, framework);
    for (const r of framework.roles) if (!roles.includes(r)) this.leaveRole(framework, r);
    for (const r of roles) if (!framework.roles.has(r)) this.joinRole(framework, r);
  }

  /** Removes a framework from every role; returns the roles it had (undefined when unknown). */
  removeFramework(id: string): string[] | undefined {
    const framework = this.frameworks.get(id);
    if (!framework) return undefined;
    const roles = [...framework.roles];
    for (const r of roles) this.leaveRole(framework, r);
    this.frameworks.delete(id);
    return roles;
  }

  /** Connects or disconnects a framework; false (a no-op) when unknown or already so. */
  setActive(id: string, active: boolean): boolean {
    const framework = this.frameworks.get(id);
    if (!framework || framework.active === active) return false;
    framework.active = active;
    for (const r of framework.roles) {
      const sorter = this.roles.get(r)?.frameworks;
      if (active && !framework.suppressed.has(r)) sorter?.activate(id);
      else sorter?.deactivate(id);
    }
    return true;
  }

  /** Suppresses the roles (all of the framework's when empty); false when the framework is unknown. */
  suppress(id: string, roles: readonly string[]): boolean {
    const framework = this.frameworks.get(id);
    if (!framework) return false;
    for (const r of roles.length === 0 ? framework.roles : roles) {
      if (!framework.roles.has(r)) continue;
      framework.suppressed.add(r);
      this.roles.get(r)?.frameworks.deactivate(id);
    }
    return true;
  }

  /** Ends suppression of the roles (all of the framework's when empty); returns them, or undefined when the framework is unknown. */
  revive(id: string, roles: readonly string[]): string[] | undefined {
    const framework = this.frameworks.get(id);
    if (!framework) return undefined;
    const which = roles.length === 0 ? [...framework.roles] : roles.filter((r) => framework.roles.has(r));
    for (const r of which) {
      framework.suppressed.delete(r);
      if (framework.active) this.roles.get(r)?.frameworks.activate(id);
    }
    return which;
  }

  /** The framework's suppressed roles, sorted (none for unknown frameworks). */
  suppressedRoles(id: string): string[] {
    return [...(this.frameworks.get(id)?.suppressed ?? [])].sort();
  }

  private joinRole(framework: FrameworkEntry, role: string): void {
    const entry = this.ensureRole(role);
    framework.roles.add(role);
    entry.members.add(framework.id);
    entry.frameworks.add(framework.id);
    if (!framework.active || framework.suppressed.has(role)) entry.frameworks.deactivate(framework.id);
    else entry.frameworks.activate(framework.id);
  }

  private leaveRole(framework: FrameworkEntry, role: string): void {
    framework.roles.delete(role);
    framework.suppressed.delete(role);
    const entry = this.roles.get(role);
    entry?.members.delete(framework.id);
    entry?.frameworks.remove(framework.id);
  }
}
