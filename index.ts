/**
 * The wiremesh package root (package.json `main`: dist/index.js): the Pulumi components and the
 * mesh spec/planner, as `import { WireGuardMesh, AwsGateway, planMesh } from "wiremesh"`.
 *
 * It loads @pulumi/pulumi, @pulumi/aws, @pulumi/gcp and @pulumi/command (peer dependencies):
 * install them in the program that uses the components. The agent, the data plane and the CLI
 * are the `bin` entries (wiremesh, wiremesh-agent, wiremesh-wg), not part of this export.
 */
export * from './components';
