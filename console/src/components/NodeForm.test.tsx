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

  it("edits a file entry's id column, and shows a slot send's slot fields", async () => {
    const onChange = vi.fn();
    render(<NodeForm kind="file_entry" config={{ id_column: "customer_id", max_rows: 100 }} options={NO_OPTIONS} fieldError={null} onChange={onChange} />);
    await act(async () => {
      fireEvent.change(screen.getByTestId("form-id-column"), { target: { value: "cif" } });
    });
    expect(onChange).toHaveBeenLastCalledWith({ config: { id_column: "cif", max_rows: 100 } });
    const send = vi.fn();
    render(
      <NodeForm
        kind="send_message"
        config={{ channel: "slot", template_id: "t", slot: { slot: "home", title: "Hi" } }}
        onBlocked={{ action: "exit" }}
        options={NO_OPTIONS}
        fieldError={null}
        onChange={send}
      />,
    );
    const title = (await screen.findByTestId("form-slot-title")) as HTMLInputElement;
    expect(title.value).toBe("Hi");
    await act(async () => {
      fireEvent.change(title, { target: { value: "理财节" } });
    });
    expect(send.mock.lastCall?.[0].config.slot).toEqual({ slot: "home", title: "理财节", priority: 0, hours: 24 });
    // let antd's debounced validation of the required fields finish inside the test
    await act(() => new Promise((done) => setTimeout(done, 100)));
  });
});
