import { act, fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { NodeForm } from "./NodeForm";

// antd's responsive helpers ask the browser for media queries, which jsdom lacks
window.matchMedia ??= ((query: string) => ({
  matches: false,
  media: query,
  onchange: null,
  addListener: () => undefined,
  removeListener: () => undefined,
  addEventListener: () => undefined,
  removeEventListener: () => undefined,
  dispatchEvent: () => false,
})) as unknown as typeof window.matchMedia;

const NO_OPTIONS = { segments: [], templates: [], benefits: [] };

describe("NodeForm", () => {
  it("sends every edit up as the node's config", async () => {
    const onChange = vi.fn();
    render(<NodeForm kind="exit" config={{ reason: "done" }} options={NO_OPTIONS} fieldError={null} onChange={onChange} />);
    const input = screen.getByTestId("form-reason") as HTMLInputElement;
    expect(input.value).toBe("done");
    await act(async () => {
      fireEvent.change(input, { target: { value: "converted" } });
    });
    expect(onChange).toHaveBeenLastCalledWith({ config: { reason: "converted" } });
  });

  it("shows the API's error on the field its path names", async () => {
    render(
      <NodeForm
        kind="rm_task"
        config={{ title: "回访", due: { amount: 2, unit: "days" } }}
        onBlocked={{ action: "exit" }}
        options={NO_OPTIONS}
        fieldError={{ name: ["config", "title"], message: "title too long" }}
        onChange={() => undefined}
      />,
    );
    expect(await screen.findByText("title too long")).toBeTruthy();
    expect(screen.getByTestId("form-on-blocked")).toBeTruthy(); // an action the policy can block
  });
});
