import { Baseline } from "../../../shared/baseline.js";

export default function Page() {
  return <Baseline label="React Router" />;
}
