// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Hash-timelocked escrow for native coin and ERC-20 tokens.
/// @notice A sender locks `amount` of `token` (address(0) for the native coin) for a
/// `recipient` under `hashlock = sha256(preimage)` until `timelock` (a block timestamp).
/// Before the timelock anyone may claim with the preimage, which pays the recipient; from
/// the timelock on anyone may refund, which pays the sender.
/// @dev Only the state of each swap is stored. Its terms are re-supplied by the caller of
/// `claim` and `refund` and re-hashed into the id, so the events plus this contract's
/// state are enough to rebuild every swap. Every transfer out happens after the state
/// change (checks, effects, interactions).
contract HashedTimelock {
    using SafeERC20 for IERC20;

    enum State {
        None,
        Locked,
        Claimed,
        Refunded
    }

    struct LockParams {
        address recipient;
        address token;
        uint256 amount;
        bytes32 hashlock;
        uint256 timelock;
    }

    event Locked(
        bytes32 indexed id,
        bytes32 indexed hashlock,
        address indexed sender,
        address recipient,
        address token,
        uint256 amount,
        uint256 timelock
    );
    event Claimed(bytes32 indexed id, bytes32 indexed hashlock, bytes32 preimage);
    event Refunded(bytes32 indexed id);

    /// A swap with the same terms already exists (the id is taken forever).
    error SwapExists(bytes32 id);
    error ZeroAmount();
    error ZeroRecipient();
    error ZeroHashlock();
    /// The timelock is not strictly after the current block's timestamp.
    error TimelockNotInFuture(uint256 timelock, uint256 blockTimestamp);
    /// msg.value differs from what the locks require (zero for ERC-20, the sum of native
    /// amounts otherwise).
    error NativeValueMismatch(uint256 expected, uint256 received);
    /// The contract's token balance did not grow by exactly the locked amount.
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// The swap is not in the Locked state (unknown, claimed or refunded).
    error NotLocked(bytes32 id, State state);
    error InvalidPreimage(bytes32 id);
    /// A claim at or after the timelock.
    error TimelockExpired(bytes32 id, uint256 timelock, uint256 blockTimestamp);
    /// A refund before the timelock.
    error TimelockNotExpired(bytes32 id, uint256 timelock, uint256 blockTimestamp);
    error NativeTransferFailed(address to, uint256 amount);

    mapping(bytes32 => State) private _states;

    /// @notice Lock funds for `recipient`; the caller is the sender (refunds go to it).
    function lock(address recipient, address token, uint256 amount, bytes32 hashlock, uint256 timelock)
        external
        payable
        returns (bytes32 id)
    {
        uint256 expectedValue = token == address(0) ? amount : 0;
        if (msg.value != expectedValue) revert NativeValueMismatch(expectedValue, msg.value);
        id = _lock(LockParams(recipient, token, amount, hashlock, timelock));
    }

    /// @notice Lock several swaps at once, each exactly as `lock` would (same id, same
    /// event). msg.value must equal the sum of the native amounts.
    function lockBatch(LockParams[] calldata params) external payable returns (bytes32[] memory ids) {
        uint256 nativeTotal;
        for (uint256 i = 0; i < params.length; ++i) {
            if (params[i].token == address(0)) nativeTotal += params[i].amount;
        }
        if (msg.value != nativeTotal) revert NativeValueMismatch(nativeTotal, msg.value);
        ids = new bytes32[](params.length);
        for (uint256 i = 0; i < params.length; ++i) {
            ids[i] = _lock(params[i]);
        }
    }

    /// @notice Pay the recipient, revealing `preimage`. Anyone may call before the timelock.
    function claim(
        address sender,
        address recipient,
        address token,
        uint256 amount,
        bytes32 hashlock,
        uint256 timelock,
        bytes32 preimage
    ) external {
        bytes32 id = swapId(sender, recipient, token, amount, hashlock, timelock);
        State state = _states[id];
        if (state != State.Locked) revert NotLocked(id, state);
        if (block.timestamp >= timelock) revert TimelockExpired(id, timelock, block.timestamp);
        if (sha256(abi.encodePacked(preimage)) != hashlock) revert InvalidPreimage(id);

        _states[id] = State.Claimed;
        emit Claimed(id, hashlock, preimage);

        _payOut(token, recipient, amount);
    }

    /// @notice Return the funds to the sender. Anyone may call from the timelock on.
    function refund(
        address sender,
        address recipient,
        address token,
        uint256 amount,
        bytes32 hashlock,
        uint256 timelock
    ) external {
        bytes32 id = swapId(sender, recipient, token, amount, hashlock, timelock);
        State state = _states[id];
        if (state != State.Locked) revert NotLocked(id, state);
        if (block.timestamp < timelock) revert TimelockNotExpired(id, timelock, block.timestamp);

        _states[id] = State.Refunded;
        emit Refunded(id);

        _payOut(token, sender, amount);
    }

    /// @notice The id of a swap: its terms bound to this chain and this contract.
    function swapId(
        address sender,
        address recipient,
        address token,
        uint256 amount,
        bytes32 hashlock,
        uint256 timelock
    ) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), sender, recipient, token, amount, hashlock, timelock));
    }

    function stateOf(bytes32 id) external view returns (State) {
        return _states[id];
    }

    /// @dev Validates one lock, records it, then takes the ERC-20 amount from msg.sender.
    /// Native value is checked by the callers, once per transaction.
    function _lock(LockParams memory p) private returns (bytes32 id) {
        if (p.amount == 0) revert ZeroAmount();
        if (p.recipient == address(0)) revert ZeroRecipient();
        if (p.hashlock == bytes32(0)) revert ZeroHashlock();
        if (p.timelock <= block.timestamp) revert TimelockNotInFuture(p.timelock, block.timestamp);
        id = swapId(msg.sender, p.recipient, p.token, p.amount, p.hashlock, p.timelock);
        if (_states[id] != State.None) revert SwapExists(id);

        _states[id] = State.Locked;
        emit Locked(id, p.hashlock, msg.sender, p.recipient, p.token, p.amount, p.timelock);

        if (p.token != address(0)) {
            IERC20 erc20 = IERC20(p.token);
            uint256 before = erc20.balanceOf(address(this));
            erc20.safeTransferFrom(msg.sender, address(this), p.amount);
            uint256 afterwards = erc20.balanceOf(address(this));
            uint256 received = afterwards > before ? afterwards - before : 0;
            if (received != p.amount) revert TransferAmountMismatch(p.amount, received);
        }
    }

    function _payOut(address token, address to, uint256 amount) private {
        if (token == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert NativeTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }
}
